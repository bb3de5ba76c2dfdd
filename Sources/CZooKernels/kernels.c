// Weight-format kernels: see include/zoo_kernels.h for why they exist.
//
// Each product widens a chunk of one weight row into a float32 buffer that stays in L1,
// then takes its dot product with every x row: the weight bytes are read from memory
// once per call whatever the number of rows. The widening and the dot products have an
// AVX2/FMA/F16C version chosen at run time and a portable one.
#include "zoo_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { CHUNK = 512 };  // floats of one widened row chunk: 2 KiB, well inside L1

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

AVX2 static float dot_avx2(const float *a, const float *b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h) + dot_portable(a + i, b + i, n - i);
}
#endif

// MARK: dispatch

typedef void (*widen_fn)(const zoo_weight_matrix *, int64_t, int64_t, int64_t, float *);
typedef float (*dot_fn)(const float *, const float *, int64_t);

static widen_fn widen = widen_portable;
static dot_fn dot = dot_portable;

__attribute__((constructor)) static void choose_kernels(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    widen = widen_avx2;
    dot = dot_avx2;
  }
#endif
}

// MARK: entry points

void zoo_weight_multiply(
    const zoo_weight_matrix *w, const float *x, int64_t ldx, int64_t count, int64_t first, int64_t end,
    float *y, int64_t ldy, int accumulate) {
  float chunk[CHUNK] __attribute__((aligned(64)));
  for (int64_t o = first; o < end; o++) {
    if (!accumulate) {
      for (int64_t r = 0; r < count; r++) y[r * ldy + o] = 0;
    }
    for (int64_t k = 0; k < w->columns; k += CHUNK) {
      int64_t n = w->columns - k < CHUNK ? w->columns - k : CHUNK;
      widen(w, o, k, n, chunk);
      for (int64_t r = 0; r < count; r++) y[r * ldy + o] += dot(x + r * ldx + k, chunk, n);
    }
  }
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
