// A pool of worker threads for the chunks of one matrix product.
//
// Written by hand because what is available hands work over too slowly for a decode step:
// a token of a 130M-parameter model is about a hundred products of 50 to 200 µs each, and
// waking a sleeping Dispatch or OpenBLAS worker for each costs 5 to 10 µs (a tenth of the
// step). Workers here spin for a while after a product, so the next one starts at once,
// and then sleep, so an idle daemon costs nothing. Chunks are taken as threads come
// free, so a worker that the scheduler has put behind another process takes fewer of
// them instead of holding up the product.
#ifndef ZOO_POOL_H
#define ZOO_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One chunk of a job: `chunk` is in [0, chunks).
typedef void (*zoo_chunk_fn)(void *context, int64_t chunk);

/// Runs `run(context, c)` for every c in [0, chunks) on the calling thread and up to
/// `threads - 1` pool workers, and returns when all have finished. When the pool is busy
/// with another caller's job, the calling thread runs every chunk itself.
void zoo_parallel_for(int64_t chunks, int threads, zoo_chunk_fn run, void *context);

#ifdef __cplusplus
}
#endif
#endif
