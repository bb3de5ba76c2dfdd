// Bytes of memory held by buffers allocated on the calling thread, so that a model load
// can measure what it built (converted, quantised or copied weights) without counting
// other threads' allocations. Written by hand: a per-thread counter needs C's
// _Thread_local, which Swift has no spelling for.
#ifndef ZOO_HELD_H
#define ZOO_HELD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Adds `bytes` (negative when a buffer is freed) to the calling thread's count.
void zoo_held_add(int64_t bytes);

/// The calling thread's count: what buffers allocated on it hold, less what buffers
/// freed on it held. Only differences between two readings mean anything.
int64_t zoo_held_on_this_thread(void);

#ifdef __cplusplus
}
#endif
#endif
