// Weight-format kernels: see include/zoo_kernels.h for why they exist.
//
// A product with few x rows (decode steps) reads each weight row once: eight weights at a
// time are loaded, widened to float32 in a register and multiplied into up to four x rows
// (a tile), with several independent sums per x row so the FMA latency stays hidden. The
// weight bytes are read from memory once per call whatever the number of x rows. The
// AVX2/FMA/F16C version is chosen at run time; the portable one widens a chunk of a row
// into a buffer and takes plain dot products.
#include "zoo_kernels.h"
#include "zoo_pool.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { CHUNK = 512 };  // floats of one widened row chunk (portable path): 2 KiB, well inside L1

// MARK: portable

static inline float bf16_to_float(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static inline float f16_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalise
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      exponent--;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// Columns [k, k + n) of weight row o as float32. For Q8, k and n are multiples of 32
// except a row's last chunk, which ends at `columns` (a multiple of 32 too).
static void widen_portable(const zoo_weight_matrix *w, int64_t o, int64_t k, int64_t n, float *out) {
  int64_t at = o * w->columns + k;
  switch (w->format) {
    case ZOO_WEIGHT_F32:
      memcpy(out, (const float *)w->data + at, (size_t)n * sizeof(float));
      break;
    case ZOO_WEIGHT_F16:
      for (int64_t i = 0; i < n; i++) out[i] = f16_to_float(((const uint16_t *)w->data)[at + i]);
      break;
    case ZOO_WEIGHT_BF16:
      for (int64_t i = 0; i < n; i++) out[i] = bf16_to_float(((const uint16_t *)w->data)[at + i]);
      break;
    case ZOO_WEIGHT_Q8: {
      const int8_t *q = (const int8_t *)w->data + at;
      const float *scales = w->scales + at / ZOO_Q8_BLOCK;
      for (int64_t i = 0; i < n; i++) out[i] = scales[i / ZOO_Q8_BLOCK] * (float)q[i];
      break;
    }
  }
}

static float dot_portable(const float *a, const float *b, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
  return sum;
}

#define MULTIPLY_PARAMETERS                                                                           \
  const zoo_weight_matrix *w, const float *x, int64_t ldx, int64_t count, int64_t first, int64_t end, \
      float *y, int64_t ldy, int accumulate
#define MULTIPLY_ARGUMENTS w, x, ldx, count, first, end, y, ldy, accumulate

static void multiply_portable(MULTIPLY_PARAMETERS) {
  float chunk[CHUNK];
  for (int64_t o = first; o < end; o++) {
    if (!accumulate) {
      for (int64_t r = 0; r < count; r++) y[r * ldy + o] = 0;
    }
    for (int64_t k = 0; k < w->columns; k += CHUNK) {
      int64_t n = w->columns - k < CHUNK ? w->columns - k : CHUNK;
      widen_portable(w, o, k, n, chunk);
      for (int64_t r = 0; r < count; r++) y[r * ldy + o] += dot_portable(x + r * ldx + k, chunk, n);
    }
  }
}

// MARK: AVX2

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static void widen_avx2(const zoo_weight_matrix *w, int64_t o, int64_t k, int64_t n, float *out) {
  int64_t at = o * w->columns + k;
  int64_t i = 0;
  switch (w->format) {
    case ZOO_WEIGHT_F32:
      widen_portable(w, o, k, n, out);
      return;
    case ZOO_WEIGHT_F16: {
      const uint16_t *src = (const uint16_t *)w->data + at;
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
      break;
    }
    case ZOO_WEIGHT_BF16: {
      const uint16_t *src = (const uint16_t *)w->data + at;
      for (; i + 8 <= n; i += 8) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
      }
      break;
    }
    case ZOO_WEIGHT_Q8: {
      const int8_t *q = (const int8_t *)w->data + at;
      const float *scales = w->scales + at / ZOO_Q8_BLOCK;
      for (; i + ZOO_Q8_BLOCK <= n; i += ZOO_Q8_BLOCK) {
        __m256 scale = _mm256_set1_ps(scales[i / ZOO_Q8_BLOCK]);
        for (int j = 0; j < ZOO_Q8_BLOCK; j += 8) {
          __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i + j)));
          _mm256_storeu_ps(out + i + j, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(wide)));
        }
      }
      break;
    }
  }
  if (i < n) widen_portable(w, o, k + i, n - i, out + i);
}

#define INLINE inline __attribute__((always_inline))
// How far ahead of the weights being multiplied the kernels ask for the next ones: the
// hardware prefetcher alone left a decode step at two thirds of the read bandwidth.
#define PREFETCH_BYTES 1024

// Eight weights from row-major element `at` on, as float32; `scale` is their Q8 block's.
AVX2 static INLINE __m256 load8(zoo_weight_format format, const zoo_weight_matrix *w, int64_t at, __m256 scale) {
  switch (format) {
    case ZOO_WEIGHT_F32:
      return _mm256_loadu_ps((const float *)w->data + at);
    case ZOO_WEIGHT_F16:
      return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w->data + at)));
    case ZOO_WEIGHT_BF16: {
      __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w->data + at)));
      return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    case ZOO_WEIGHT_Q8: {
      __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)w->data + at)));
      return _mm256_mul_ps(_mm256_cvtepi32_ps(wide), scale);
    }
  }
  return _mm256_setzero_ps();
}

AVX2 static INLINE float sum8(__m256 s) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// y[r * ldy + o] (+)= x[r] · W[o] for the `rows` (1 to 4) x rows of a tile, with `sums`
// independent partial sums per x row. Both are constants where it is inlined, so each
// (format, rows, sums) gets its own loop with every accumulator in a register.
//
// Two things measured slower on Zen 2 and left out: tiles of two weight rows sharing
// each x load (two interleaved streams from memory read at half the bandwidth of one),
// and blocks of columns to keep many x rows in L1 (the weights are then read in strided
// pieces, which the prefetchers do not follow).
AVX2 static INLINE void tile_avx2(
    zoo_weight_format format, int rows, int sums, const zoo_weight_matrix *w, int64_t o, const float *x,
    int64_t ldx, float *y, int64_t ldy, int accumulate) {
  __m256 acc[4][4];
  for (int u = 0; u < sums; u++)
    for (int r = 0; r < rows; r++) acc[u][r] = _mm256_setzero_ps();
  const int64_t n = w->columns, row = o * n;
  const int element = format == ZOO_WEIGHT_F32 ? 4 : format == ZOO_WEIGHT_Q8 ? 1 : 2;
  const char *ahead = (const char *)w->data + row * element + PREFETCH_BYTES;
  int64_t k = 0;
  for (; k + 8 * sums <= n; k += 8 * sums) {
    for (int line = 0; line < 8 * sums * element; line += 64) _mm_prefetch(ahead + k * element + line, _MM_HINT_T0);
    // A step's 8 · sums (at most 32) columns start at a multiple of that: one Q8 block.
    __m256 scale = _mm256_setzero_ps();
    if (format == ZOO_WEIGHT_Q8) scale = _mm256_broadcast_ss(w->scales + (uint64_t)(row + k) / ZOO_Q8_BLOCK);
    for (int u = 0; u < sums; u++) {
      __m256 weights = load8(format, w, row + k + 8 * u, scale);
      for (int r = 0; r < rows; r++)
        acc[u][r] = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x + r * ldx + k + 8 * u), acc[u][r]);
    }
  }
  for (; k + 8 <= n; k += 8) {  // never Q8, whose rows are whole steps
    __m256 weights = load8(format, w, row + k, _mm256_setzero_ps());
    for (int r = 0; r < rows; r++) acc[0][r] = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x + r * ldx + k), acc[0][r]);
  }
  float tail[8];  // the last n % 8 columns (never Q8)
  if (k < n) widen_portable(w, o, k, n - k, tail);
  for (int r = 0; r < rows; r++) {
    __m256 s = acc[0][r];
    for (int u = 1; u < sums; u++) s = _mm256_add_ps(s, acc[u][r]);
    float sum = sum8(s) + (k < n ? dot_portable(x + r * ldx + k, tail, n - k) : 0);
    y[r * ldy + o] = accumulate ? y[r * ldy + o] + sum : sum;
  }
}

// Weight rows first <= o < end times every x row, in tiles of four x rows: one x row keeps
// four sums (a decode step has nothing else to hide the FMA latency), more keep two.
AVX2 static INLINE void multiply_avx2(
    zoo_weight_format format, const zoo_weight_matrix *w, const float *x, int64_t ldx, int64_t count,
    int64_t first, int64_t end, float *y, int64_t ldy, int accumulate) {
  for (int64_t o = first; o < end; o++) {
    for (int64_t r = 0; r < count; r += 4) {
      const float *xr = x + r * ldx;
      float *yr = y + r * ldy;
      switch (count - r) {
        case 1: tile_avx2(format, 1, 4, w, o, xr, ldx, yr, ldy, accumulate); break;
        case 2: tile_avx2(format, 2, 4, w, o, xr, ldx, yr, ldy, accumulate); break;
        case 3: tile_avx2(format, 3, 2, w, o, xr, ldx, yr, ldy, accumulate); break;
        default: tile_avx2(format, 4, 2, w, o, xr, ldx, yr, ldy, accumulate); break;
      }
    }
  }
}

AVX2 static void multiply_f32_avx2(MULTIPLY_PARAMETERS) { multiply_avx2(ZOO_WEIGHT_F32, MULTIPLY_ARGUMENTS); }
AVX2 static void multiply_f16_avx2(MULTIPLY_PARAMETERS) { multiply_avx2(ZOO_WEIGHT_F16, MULTIPLY_ARGUMENTS); }
AVX2 static void multiply_bf16_avx2(MULTIPLY_PARAMETERS) { multiply_avx2(ZOO_WEIGHT_BF16, MULTIPLY_ARGUMENTS); }
AVX2 static void multiply_q8_avx2(MULTIPLY_PARAMETERS) { multiply_avx2(ZOO_WEIGHT_Q8, MULTIPLY_ARGUMENTS); }

#endif

// MARK: dispatch

typedef void (*widen_fn)(const zoo_weight_matrix *, int64_t, int64_t, int64_t, float *);
typedef void (*multiply_fn)(MULTIPLY_PARAMETERS);

static widen_fn widen = widen_portable;
static multiply_fn multiply[4] = {multiply_portable, multiply_portable, multiply_portable, multiply_portable};  // by format

__attribute__((constructor)) static void choose_kernels(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    widen = widen_avx2;
    multiply[ZOO_WEIGHT_F32] = multiply_f32_avx2;
    multiply[ZOO_WEIGHT_F16] = multiply_f16_avx2;
    multiply[ZOO_WEIGHT_BF16] = multiply_bf16_avx2;
    multiply[ZOO_WEIGHT_Q8] = multiply_q8_avx2;
  }
#endif
}

// MARK: entry points

void zoo_weight_multiply(MULTIPLY_PARAMETERS) { multiply[w->format](MULTIPLY_ARGUMENTS); }

typedef struct multiply_job {
  const zoo_weight_matrix *w;
  const float *x;
  int64_t ldx, count;
  float *y;
  int64_t ldy;
  int accumulate;
  int64_t chunk_rows;
} multiply_job;

static void multiply_chunk(void *context, int64_t chunk) {
  const multiply_job *job = context;
  int64_t first = chunk * job->chunk_rows;
  int64_t end = first + job->chunk_rows < job->w->rows ? first + job->chunk_rows : job->w->rows;
  zoo_weight_multiply(job->w, job->x, job->ldx, job->count, first, end, job->y, job->ldy, job->accumulate);
}

void zoo_weight_multiply_parallel(
    const zoo_weight_matrix *w, const float *x, int64_t ldx, int64_t count, float *y, int64_t ldy, int accumulate,
    int64_t chunk_rows, int threads) {
  multiply_job job = {w, x, ldx, count, y, ldy, accumulate, chunk_rows};
  zoo_parallel_for((w->rows + chunk_rows - 1) / chunk_rows, threads, multiply_chunk, &job);
}

void zoo_weight_widen(const zoo_weight_matrix *w, int64_t first, int64_t end, float *out) {
  for (int64_t o = first; o < end; o++) widen(w, o, 0, w->columns, out + (o - first) * w->columns);
}

void zoo_quantize_q8(const float *x, int64_t count, int8_t *q, float *scales) {
  for (int64_t b = 0; b < count / ZOO_Q8_BLOCK; b++) {
    const float *block = x + b * ZOO_Q8_BLOCK;
    float largest = 0;
    for (int i = 0; i < ZOO_Q8_BLOCK; i++) largest = fmaxf(largest, fabsf(block[i]));
    float scale = largest / 127.0f;
    float inverse = scale != 0 ? 1.0f / scale : 0.0f;
    scales[b] = scale;
    for (int i = 0; i < ZOO_Q8_BLOCK; i++) q[b * ZOO_Q8_BLOCK + i] = (int8_t)roundf(block[i] * inverse);
  }
}
