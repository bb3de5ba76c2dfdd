import Foundation
import ZooCore

/// Multi-head scaled dot-product attention with grouped key/value heads (GQA), in
/// float32: for query row i, head h and its KV head g = h / (heads / kvHeads),
///
///     out[i, h] = Σ_{j < keyCount(i)} softmax_j(q[i, h] · k[j, g] / √headDim) · v[j, g]
///
/// Keys are slots in position order, so every mask zoo supports (causal, bidirectional,
/// block-causal) is a per-row key count: a row sees the slots 0..<keyCount(i). That is
/// how eager attention with an additive −∞ mask computes it (Hugging Face
/// `eager_attention_forward`: scores·scaling + mask, softmax in float32, times V).
///
/// Scores go through BLAS: per head, one GEMM for Q·Kᵀ over a block of query rows and
/// one for P·V. A single row (the decoding step) is done per KV head instead: the G query
/// heads sharing it are one [G, headDim] matrix, so each cached key and value is read
/// once per group rather than once per head.
struct AttentionHeads: Sendable {
  let heads: Int
  let kvHeads: Int
  let headDim: Int

  var groupSize: Int { heads / kvHeads }
  var queryWidth: Int { heads * headDim }
  var kvWidth: Int { kvHeads * headDim }
  var scale: Float { 1 / Float(headDim).squareRoot() }

  /// Query rows per score block: keeps a block's scores to about 4 M floats.
  static func blockRows(rows: Int, keys: Int) -> Int {
    max(1, min(rows, (1 << 22) / max(keys, 1)))
  }

  /// Scratch floats `attend` needs for `rows` queries against at most `keys` slots.
  func scratchCount(rows: Int, keys: Int) -> Int {
    max(Self.blockRows(rows: rows, keys: keys), groupSize) * keys
  }

  /// Attends `rows` queries (row i at `queries + i·queryStride`, heads side by side) to
  /// the slots at `keys`/`values` (slot j at `+ j·kvStride`, KV heads side by side) and
  /// writes each row's heads side by side at `out + i·outStride`.
  func attend(
    queries: UnsafePointer<Float>, queryStride: Int, rows: Int,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, kvStride: Int,
    keyCount: (Int) -> Int, scratch: UnsafeMutablePointer<Float>,
    into out: UnsafeMutablePointer<Float>, outStride: Int
  ) {
    var maxKeys = 0
    for i in 0..<rows { maxKeys = max(maxKeys, keyCount(i)) }
    let d = headDim
    if rows == 1 {
      let g = groupSize
      for kv in 0..<kvHeads {
        let q = queries + kv * g * d
        let k = keys + kv * d
        let v = values + kv * d
        let o = out + kv * g * d
        if g == 1 {
          BLAS.gemv(transpose: false, m: maxKeys, n: d, alpha: scale, k, lda: kvStride, q, scratch)
          Kernels.softmaxInPlace(scratch, count: maxKeys)
          BLAS.gemv(transpose: true, m: maxKeys, n: d, v, lda: kvStride, scratch, o)
        } else {
          BLAS.gemm(
            transA: false, transB: true, m: g, n: maxKeys, k: d, alpha: scale, q, lda: d, k, ldb: kvStride, scratch,
            ldc: maxKeys)
          for j in 0..<g { Kernels.softmaxInPlace(scratch + j * maxKeys, count: maxKeys) }
          BLAS.gemm(
            transA: false, transB: false, m: g, n: d, k: maxKeys, scratch, lda: maxKeys, v, ldb: kvStride, o, ldc: d)
        }
      }
      return
    }
    let block = Self.blockRows(rows: rows, keys: maxKeys)
    for h in 0..<heads {
      let kv = h / groupSize
      let k = keys + kv * d
      let v = values + kv * d
      var start = 0
      while start < rows {
        let m = min(block, rows - start)
        var blockKeys = 0
        for i in start..<start + m { blockKeys = max(blockKeys, keyCount(i)) }
        let q = queries + start * queryStride + h * d
        let o = out + start * outStride + h * d
        BLAS.gemm(
          transA: false, transB: true, m: m, n: blockKeys, k: d, alpha: scale, q, lda: queryStride, k,
          ldb: kvStride, scratch, ldc: blockKeys)
        for i in 0..<m {
          let row = scratch + i * blockKeys
          let count = keyCount(start + i)
          Kernels.softmaxInPlace(row, count: count)
          // Masked keys get probability 0, as e^−∞ does in the reference.
          (row + count).update(repeating: 0, count: blockKeys - count)
        }
        BLAS.gemm(
          transA: false, transB: false, m: m, n: d, k: blockKeys, scratch, lda: blockKeys, v, ldb: kvStride,
          o, ldc: outStride)
        start += m
      }
    }
  }
}
