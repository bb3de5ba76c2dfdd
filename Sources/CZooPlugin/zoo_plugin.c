// Compiles zoo_plugin.h as plain C on every build, so the contract header can never
// drift into something a C plugin author cannot include. (SwiftPM also needs one
// source file in a C target.)
#include "zoo_plugin.h"

_Static_assert(sizeof(int32_t) == 4, "zoo_plugin.h assumes 32-bit int32_t");
_Static_assert(ZOO_ABI_MAJOR >= 1, "ABI major starts at 1");
