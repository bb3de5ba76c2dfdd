import ZooCore
import ZooPluginKit

/// A PyTorch `nn.Linear` read from the checkpoint: weight `[out, in]` and an optional
/// bias, applied as `y = x · Wᵀ + b`. Points into the mapped weights (no copy); `outputs`
/// takes a block of output rows, as a view of one half of a fused projection.
struct Linear: @unchecked Sendable {
  let weight: UnsafePointer<Float>
  let bias: UnsafePointer<Float>?
  let inFeatures: Int
  let outFeatures: Int
  /// The checkpoint tensors the pointers borrow from, kept alive with the layer.
  private let owners: [Weight]

  /// Reads `<name>.weight` `[out, in]` and, when `bias`, `<name>.bias` `[out]`.
  init(_ weights: Weights, _ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws {
    let w = try weights.tensor("\(name).weight", shape: [outFeatures, inFeatures])
    let b = bias ? try weights.tensor("\(name).bias", shape: [outFeatures]) : nil
    self.init(
      weight: w.pointer, bias: b?.pointer, inFeatures: inFeatures, outFeatures: outFeatures,
      owners: [w] + (b.map { [$0] } ?? []))
  }

  private init(
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, inFeatures: Int, outFeatures: Int, owners: [Weight]
  ) {
    self.weight = weight
    self.bias = bias
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.owners = owners
  }

  /// Floats read per application: the weight and the bias.
  var floatCount: Int { outFeatures * inFeatures + (bias == nil ? 0 : outFeatures) }

  /// Output rows `range` only: the layer computing that slice of the outputs.
  func outputs(_ range: Range<Int>) -> Linear {
    Linear(
      weight: weight + range.lowerBound * inFeatures, bias: bias.map { $0 + range.lowerBound },
      inFeatures: inFeatures, outFeatures: range.count, owners: owners)
  }

  /// `y[rows, out] = x[rows, in] · Wᵀ + b` (added to y when `accumulate`), with row
  /// strides `ldx` and `ldy`.
  func apply(
    _ x: UnsafePointer<Float>, ldx: Int? = nil, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
    accumulate: Bool = false
  ) {
    let ldy = ldy ?? outFeatures
    MatMul.abT(
      m: rows, n: outFeatures, k: inFeatures, x, lda: ldx ?? inFeatures, weight, ldb: inFeatures,
      beta: accumulate ? 1 : 0, y, ldc: ldy)
    if let bias { Kernels.addBias(bias, to: y, rows: rows, width: outFeatures, stride: ldy) }
  }
}

/// Row-major products that take GEMV when there is one row (a decode step), GEMM
/// otherwise.
enum MatMul {
  /// `C[m, n] = alpha · A[m, k] · B[n, k]ᵀ + beta · C`.
  static func abT(
    m: Int, n: Int, k: Int, alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>,
    ldb: Int, beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    if m == 1 {
      BLAS.gemv(transpose: false, m: n, n: k, alpha: alpha, b, lda: ldb, a, beta: beta, c)
    } else {
      BLAS.gemm(
        transA: false, transB: true, m: m, n: n, k: k, alpha: alpha, a, lda: lda, b, ldb: ldb, beta: beta, c,
        ldc: ldc)
    }
  }

  /// `C[m, n] = alpha · A[m, k] · B[k, n] + beta · C`.
  static func ab(
    m: Int, n: Int, k: Int, alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>,
    ldb: Int, beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    if m == 1 {
      BLAS.gemv(transpose: true, m: k, n: n, alpha: alpha, b, lda: ldb, a, beta: beta, c)
    } else {
      BLAS.gemm(
        transA: false, transB: false, m: m, n: n, k: k, alpha: alpha, a, lda: lda, b, ldb: ldb, beta: beta, c,
        ldc: ldc)
    }
  }
}
