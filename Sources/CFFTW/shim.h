// FFTW 3 in single precision (Debian libfftw3-dev: libfftw3f, libfftw3f_threads).
// fftw3f_threads provides fftwf_make_planner_thread_safe.
#include <fftw3.h>
