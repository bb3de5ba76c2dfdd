// OpenBLAS (Debian libopenblas-dev) through its CBLAS interface.
#include <cblas.h>
