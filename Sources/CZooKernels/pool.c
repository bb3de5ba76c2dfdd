// The worker pool of zoo_pool.h.
//
// One job at a time. Its chunks are claimed through `cursor`, which holds the job's
// generation (high bits) and the next unclaimed chunk (low bits): a worker reads the
// job's fields after seeing the cursor, and its compare-and-swap succeeds only if the
// cursor has not moved on to another job since, so a worker that arrives late never runs
// a chunk with another job's fields. The caller waits for its chunks to be done, never
// for a worker that has not started: it claims whatever is left itself.
#include "zoo_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

enum {
  MAX_WORKERS = 63,
  CHUNK_BITS = 24,
};
#define INDEX_MASK ((UINT64_C(1) << CHUNK_BITS) - 1)
// The index while the caller writes a job's fields: no chunk can be claimed.
#define CLOSED INDEX_MASK
// A worker spins this long for the next job before it sleeps: longer than the gap between
// the products of one decode step (a layer's scan and norms), far shorter than anything
// a person would notice as an idle daemon using a core.
#define SPIN_NANOSECONDS 100000

static _Atomic uint64_t cursor;
static _Atomic(zoo_chunk_fn) job_run;
static _Atomic(void *) job_context;
static _Atomic int64_t job_chunks;
static _Atomic int64_t job_done;

static atomic_flag busy = ATOMIC_FLAG_INIT;
static atomic_int sleepers;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int workers;  // started, under lock

static int64_t now_nanoseconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// Claims and runs chunks of the job `seen` belongs to until none is left; returns the
// cursor it last saw.
static uint64_t run_chunks(uint64_t seen) {
  for (;;) {
    // Acquire: fields already written for a later job carry the closing of this one's
    // cursor with them, so the compare-and-swap below then fails.
    zoo_chunk_fn run = atomic_load_explicit(&job_run, memory_order_acquire);
    void *context = atomic_load_explicit(&job_context, memory_order_acquire);
    int64_t chunks = atomic_load_explicit(&job_chunks, memory_order_acquire);
    uint64_t index = seen & INDEX_MASK;
    if (index == CLOSED || (int64_t)index >= chunks) return seen;
    if (!atomic_compare_exchange_weak(&cursor, &seen, seen + 1)) continue;  // `seen` reloaded
    run(context, (int64_t)index);
    atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
    seen = atomic_load(&cursor);
  }
}

static void *worker_main(void *unused) {
  (void)unused;
  uint64_t idle = atomic_load(&cursor);  // the cursor when there was nothing to claim
  for (;;) {
    int64_t since = now_nanoseconds();
    for (int spins = 0; atomic_load(&cursor) == idle; spins++) {
      PAUSE();
      if (spins % 256 != 255 || now_nanoseconds() - since < SPIN_NANOSECONDS) continue;
      pthread_mutex_lock(&lock);
      atomic_fetch_add(&sleepers, 1);
      while (atomic_load(&cursor) == idle) pthread_cond_wait(&wake, &lock);
      atomic_fetch_sub(&sleepers, 1);
      pthread_mutex_unlock(&lock);
    }
    idle = run_chunks(atomic_load(&cursor));
  }
  return NULL;
}

static void start_workers(int wanted) {
  pthread_mutex_lock(&lock);
  while (workers < wanted) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker_main, NULL) != 0) break;  // fewer workers: still correct
    pthread_detach(thread);
    workers++;
  }
  pthread_mutex_unlock(&lock);
}

void zoo_parallel_for(int64_t chunks, int threads, zoo_chunk_fn run, void *context) {
  if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
  if (chunks <= 1 || threads <= 1 || chunks >= (int64_t)CLOSED || atomic_flag_test_and_set(&busy)) {
    for (int64_t c = 0; c < chunks; c++) run(context, c);
    return;
  }
  start_workers(threads - 1);
  uint64_t generation = (atomic_load(&cursor) >> CHUNK_BITS) + 1;
  atomic_store(&cursor, generation << CHUNK_BITS | CLOSED);
  atomic_store_explicit(&job_run, run, memory_order_release);
  atomic_store_explicit(&job_context, context, memory_order_release);
  atomic_store_explicit(&job_chunks, chunks, memory_order_release);
  atomic_store_explicit(&job_done, 0, memory_order_relaxed);
  atomic_store(&cursor, generation << CHUNK_BITS);  // opens the job, publishing the fields
  if (atomic_load(&sleepers) > 0) {
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
  }
  run_chunks(generation << CHUNK_BITS);
  // Only chunks that a worker claimed are left; yield now and then in case the
  // scheduler put that worker behind another process on its core.
  for (int spins = 0; atomic_load_explicit(&job_done, memory_order_acquire) < chunks; spins++) {
    if (spins % 1024 == 1023) sched_yield();
    else PAUSE();
  }
  atomic_flag_clear(&busy);
}
