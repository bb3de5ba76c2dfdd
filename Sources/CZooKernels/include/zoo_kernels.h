// Matrix products over weights kept in 16-bit floats or 8-bit blocks, widened to
// float32 inside the kernel (float32 accumulation).
//
// Written by hand because no library on these machines does it: OpenBLAS (Debian 12,
// 0.3.21) multiplies float32 only (its sbgemm needs a BUILD_BFLOAT16 build and AVX512-BF16
// to be fast) and has no 8-bit weight type. Decoding reads every weight once per token,
// so reading half or a quarter of the bytes is what makes it faster. Float32 decode steps
// use these kernels too: OpenBLAS's sgemv and small sgemm split a product over its own
// threads in fixed parts, so one thread put behind another process stalls the step, while
// these run on any rows the caller gives them (chunks that zoo_pool.h's threads claim).
#ifndef ZOO_KERNELS_H
#define ZOO_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements per Q8 block: `columns` of a Q8 matrix is a multiple of it.
#define ZOO_Q8_BLOCK 32

/// How a weight matrix [rows, columns] is stored, row-major.
typedef enum zoo_weight_format {
  ZOO_WEIGHT_F32 = 0,
  ZOO_WEIGHT_F16 = 1,   // IEEE half
  ZOO_WEIGHT_BF16 = 2,  // bfloat16: the top 16 bits of a float32
  ZOO_WEIGHT_Q8 = 3,    // int8, one float32 scale per block of 32 along a row (as llama.cpp's Q8_0)
} zoo_weight_format;

/// A weight matrix as the kernels read it. For Q8, `data` holds the int8 values and
/// `scales` [rows, columns / 32] the block scales; otherwise `scales` is NULL.
typedef struct zoo_weight_matrix {
  zoo_weight_format format;
  const void *data;
  const float *scales;
  int64_t rows;
  int64_t columns;
} zoo_weight_matrix;

/// y[r * ldy + o] = sum_k x[r * ldx + k] * W[o, k] (added to y when `accumulate`), for
/// every r < count and the weight rows first <= o < end. Made for few x rows (decode
/// steps): each weight row is read once for all of them.
void zoo_weight_multiply(
    const zoo_weight_matrix *w, const float *x, int64_t ldx, int64_t count, int64_t first, int64_t end,
    float *y, int64_t ldy, int accumulate);

/// zoo_weight_multiply over every weight row, in chunks of `chunk_rows` rows run by up to
/// `threads` threads (zoo_parallel_for). Allocates nothing.
void zoo_weight_multiply_parallel(
    const zoo_weight_matrix *w, const float *x, int64_t ldx, int64_t count, float *y, int64_t ldy, int accumulate,
    int64_t chunk_rows, int threads);

/// Weight rows first <= o < end widened to float32, packed into `out` [(end - first), columns].
void zoo_weight_widen(const zoo_weight_matrix *w, int64_t first, int64_t end, float *out);

/// `count` floats (a multiple of 32) quantised into Q8 blocks: per block of 32,
/// scale = max|x| / 127 and q = round(x / scale), as llama.cpp's quantize_row_q8_0.
void zoo_quantize_q8(const float *x, int64_t count, int8_t *q, float *scales);

#ifdef __cplusplus
}
#endif
#endif
