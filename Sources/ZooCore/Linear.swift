/// A dense layer `y = x · Wᵀ + b` with `W` in PyTorch `nn.Linear` layout `[out, in]`.
///
/// Usually a view of a checkpoint's weights (no copy; `ZooPluginKit` reads one from
/// `Weights`), kept in the checkpoint's float format or quantised at load
/// (`WeightMatrix`). Projections that read the same input (q/k/v, SwiGLU's gate and up)
/// can be fused at load into one owned matrix, so a call makes one product with M = all
/// tokens instead of two or three smaller ones; `outputs(_:)` goes the other way, a view
/// of a block of output rows (one half of a fused projection in the checkpoint).
public struct Linear: @unchecked Sendable {
  public var inFeatures: Int { matrix.columns }
  public var outFeatures: Int { matrix.rows }
  /// W `[out, in]`.
  public let matrix: WeightMatrix
  /// `[out]`, float32, or nil for a layer without bias.
  public let bias: UnsafePointer<Float>?
  /// What keeps `bias` alive.
  private let biasOwner: AnyObject?

  /// A layer over `matrix` and a bias that `biasOwner` keeps alive.
  public init(matrix: WeightMatrix, bias: UnsafePointer<Float>?, biasOwner: AnyObject?) {
    self.matrix = matrix
    self.bias = bias
    self.biasOwner = biasOwner
  }

  /// The parts stacked along the output dimension: the output row is
  /// `[parts[0] | parts[1] | ...]`, in one owned matrix (and one bias when any part has one).
  public init(fusing parts: [Linear]) {
    let matrix = WeightMatrix(stacking: parts.map(\.matrix))
    guard parts.contains(where: { $0.bias != nil }) else {
      self.init(matrix: matrix, bias: nil, biasOwner: nil)
      return
    }
    let bias = OwnedFloats(count: matrix.rows) { p in
      var row = 0
      for part in parts {
        if let b = part.bias { (p + row).update(from: b, count: part.outFeatures) }
        row += part.outFeatures
      }
    }
    self.init(matrix: matrix, bias: UnsafePointer(bias.pointer), biasOwner: bias)
  }

  /// Bytes of the weight (as kept) and the bias.
  public var parameterBytes: Int { matrix.byteCount + (bias == nil ? 0 : outFeatures * MemoryLayout<Float>.size) }

  /// Output rows `range` only: the layer computing that slice of the outputs.
  public func outputs(_ range: Range<Int>) -> Linear {
    Linear(matrix: matrix.rows(range), bias: bias.map { $0 + range.lowerBound }, biasOwner: biasOwner)
  }

  /// `y[rows, out] = x[rows, in] · Wᵀ + b` (added to y when `accumulate`), with row
  /// strides `ldx` and `ldy` (default: packed rows). The bias is added after the product.
  public func apply(
    _ x: UnsafePointer<Float>, ldx: Int? = nil, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
    accumulate: Bool = false
  ) {
    let ldy = ldy ?? outFeatures
    matrix.multiply(x, ldx: ldx ?? inFeatures, count: rows, into: y, ldy: ldy, accumulate: accumulate)
    if let bias { Kernels.addBias(bias, to: y, rows: rows, width: outFeatures, stride: ldy) }
  }
}

/// Row-major products that take GEMV when there is one row (a decode step), GEMM
/// otherwise.
public enum MatMul {
  /// `C[m, n] = alpha · A[m, k] · B[n, k]ᵀ + beta · C`.
  public static func abT(
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
  public static func ab(
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

/// A float32 buffer derived from weights at load time (fused or transposed matrices,
/// precomputed tables), zero-initialised, filled once and owned by the model.
public final class OwnedFloats: @unchecked Sendable {
  public let pointer: UnsafeMutablePointer<Float>
  public let count: Int

  /// `count` zeros, then `fill` writes what they should hold.
  public init(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) {
    self.count = count
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
    HeldMemory.add(max(count, 1) * MemoryLayout<Float>.size)
    fill(pointer)
  }

  deinit {
    HeldMemory.add(-max(count, 1) * MemoryLayout<Float>.size)
    pointer.deallocate()
  }
}

/// Scratch floats a sequence's state keeps between forward calls: grown on demand and
/// reused, so a decode step does not allocate scratch per token (it allocates only when
/// a call needs more than any before it).
public final class ScratchBuffer: @unchecked Sendable {
  private var pointer: UnsafeMutablePointer<Float>?
  /// Floats allocated now (0 before the first call).
  public private(set) var capacity = 0

  /// An empty buffer; nothing is allocated until the first call.
  public init() {}

  deinit { pointer?.deallocate() }

  /// At least `count` floats, valid until the next call (their contents are not kept
  /// when the buffer grows).
  public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
    if let pointer, count <= capacity { return pointer }
    pointer?.deallocate()
    capacity = max(count, 1)
    let grown = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
    pointer = grown
    return grown
  }

  /// Frees the memory when it holds more than `limit` floats (left by a long prefill), so
  /// an idle state does not keep it.
  public func release(above limit: Int) {
    guard capacity > limit else { return }
    pointer?.deallocate()
    pointer = nil
    capacity = 0
  }
}
