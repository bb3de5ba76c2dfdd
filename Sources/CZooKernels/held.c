// The per-thread counter of zoo_held.h.
#include "zoo_held.h"

static _Thread_local int64_t held;

void zoo_held_add(int64_t bytes) { held += bytes; }

int64_t zoo_held_on_this_thread(void) { return held; }
