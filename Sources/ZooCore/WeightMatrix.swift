import CZooKernels
import Foundation

/// A weight matrix `[rows, columns]` (PyTorch `nn.Linear` layout `[out, in]`) in the
/// format it is kept in: float32, the checkpoint's own 16-bit floats, or 8-bit blocks.
///
/// Products widen 16- and 8-bit weights to float32 inside the kernel and accumulate in
/// float32, so a decode step reads half or about a quarter of float32's bytes. Float32
/// goes through OpenBLAS; the other formats through `CZooKernels` for a few rows and
/// through OpenBLAS over widened blocks of weight rows for many (a prefill, where the
/// product, not the reading, is the cost).
public struct WeightMatrix: @unchecked Sendable {
  /// How the elements are stored.
  public enum Format: String, Sendable, CaseIterable {
    case f32 = "F32"
    /// IEEE half precision.
    case f16 = "F16"
    /// bfloat16, the top half of a float32.
    case bf16 = "BF16"
    /// int8 in blocks of 32 along a row, each with a float32 scale (llama.cpp's Q8_0
    /// with a float32 scale): 1.125 bytes per element.
    case q8 = "Q8"

    var kernelFormat: zoo_weight_format {
      switch self {
      case .f32: ZOO_WEIGHT_F32
      case .f16: ZOO_WEIGHT_F16
      case .bf16: ZOO_WEIGHT_BF16
      case .q8: ZOO_WEIGHT_Q8
      }
    }

    /// Bytes of one element's value (Q8's block scales not counted).
    public var elementBytes: Int { self == .f32 ? 4 : self == .q8 ? 1 : 2 }
  }

  /// Elements per Q8 block; a matrix is quantised only when its rows are made of blocks.
  public static let q8Block = Int(ZOO_Q8_BLOCK)

  public let format: Format
  public let rows: Int
  public let columns: Int
  /// The first element: `Float`, `UInt16` or `Int8` by `format`.
  public let data: UnsafeRawPointer
  /// Q8's block scales `[rows, columns / 32]`; nil for the other formats.
  public let scales: UnsafePointer<Float>?
  /// What keeps `data` and `scales` alive.
  private let owners: [AnyObject]

  /// A matrix over memory that `owners` keep alive for as long as the matrix lives.
  public init(
    format: Format, rows: Int, columns: Int, data: UnsafeRawPointer, scales: UnsafePointer<Float>? = nil,
    owners: [AnyObject]
  ) {
    precondition(
      (format == .q8) == (scales != nil) && (format != .q8 || columns % Self.q8Block == 0),
      "a Q8 matrix has block scales and whole blocks; no other format has scales")
    self.format = format
    self.rows = rows
    self.columns = columns
    self.data = data
    self.scales = scales
    self.owners = owners
  }

  /// A float32 matrix.
  public init(_ pointer: UnsafePointer<Float>, rows: Int, columns: Int, owners: [AnyObject]) {
    self.init(format: .f32, rows: rows, columns: columns, data: UnsafeRawPointer(pointer), owners: owners)
  }

  /// The elements as float32 when that is how they are kept.
  public var float32: UnsafePointer<Float>? { format == .f32 ? data.assumingMemoryBound(to: Float.self) : nil }

  /// Bytes the matrix occupies (and a product reads): values and block scales.
  public var byteCount: Int {
    rows * columns * format.elementBytes + (format == .q8 ? rows * (columns / Self.q8Block) * 4 : 0)
  }

  /// Rows `range` only, without copying.
  public func rows(_ range: Range<Int>) -> WeightMatrix {
    precondition(range.lowerBound >= 0 && range.upperBound <= rows)
    return WeightMatrix(
      format: format, rows: range.count, columns: columns,
      data: data + range.lowerBound * columns * format.elementBytes,
      scales: scales.map { $0 + range.lowerBound * (columns / Self.q8Block) }, owners: owners)
  }

  /// Row `row` as float32 into `out` [columns] (an embedding lookup).
  public func widenRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
    widenRows(row..<(row + 1), into: out)
  }

  /// Rows `range` as float32, packed into `out` [range.count, columns].
  public func widenRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
    if let f = float32 {
      out.update(from: f + range.lowerBound * columns, count: range.count * columns)
      return
    }
    withKernelView { zoo_weight_widen($0, Int64(range.lowerBound), Int64(range.upperBound), out) }
  }

  /// `y[count, rows] = x[count, columns] · Wᵀ` (added to y when `accumulate`), with row
  /// strides `ldx` and `ldy`.
  public func multiply(
    _ x: UnsafePointer<Float>, ldx: Int, count: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool = false
  ) {
    if let f = float32 {
      MatMul.abT(
        m: count, n: rows, k: columns, x, lda: ldx, f, ldb: columns, beta: accumulate ? 1 : 0, y, ldc: ldy)
    } else if count <= Self.fewRows {
      multiplyFewRows(x, ldx: ldx, count: count, into: y, ldy: ldy, accumulate: accumulate)
    } else {
      multiplyWidened(x, ldx: ldx, count: count, into: y, ldy: ldy, accumulate: accumulate)
    }
  }

  /// Up to this many x rows, products read the weights in place; beyond, OpenBLAS
  /// multiplies widened blocks (at 16 rows the widening costs a sixteenth of the product).
  static let fewRows = 16
  /// Weight rows widened at a time for OpenBLAS: 256 rows of 4096 columns is 4 MiB.
  static let widenedBlockRows = 256

  private func multiplyFewRows(
    _ x: UnsafePointer<Float>, ldx: Int, count: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool
  ) {
    // Split the weight rows over BLAS.threads workers when each gets enough to read
    // (a small matrix is faster on one thread than with a hand-off).
    let workers = min(BLAS.threads, max(1, rows * columns * format.elementBytes / (256 << 10)))
    withKernelView { view in
      if workers == 1 {
        zoo_weight_multiply(view, x, Int64(ldx), Int64(count), 0, Int64(rows), y, Int64(ldy), accumulate ? 1 : 0)
        return
      }
      let view = SendableView(view: view)
      let x = SendablePointer(pointer: UnsafeMutablePointer(mutating: x))
      let y = SendablePointer(pointer: y)
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        // Whole cache lines of y per worker (16 floats), so no two write one line.
        let share = ((rows + workers - 1) / workers + 15) / 16 * 16
        let first = min(rows, worker * share)
        let end = min(rows, first + share)
        zoo_weight_multiply(
          view.view, x.pointer, Int64(ldx), Int64(count), Int64(first), Int64(end), y.pointer, Int64(ldy),
          accumulate ? 1 : 0)
      }
    }
  }

  private func multiplyWidened(
    _ x: UnsafePointer<Float>, ldx: Int, count: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool
  ) {
    let blockRows = min(rows, Self.widenedBlockRows)
    let block = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * columns)
    defer { block.deallocate() }
    for first in stride(from: 0, to: rows, by: blockRows) {
      let n = min(blockRows, rows - first)
      widenRows(first..<(first + n), into: block)
      BLAS.gemm(
        transA: false, transB: true, m: count, n: n, k: columns, x, lda: ldx, block, ldb: columns,
        beta: accumulate ? 1 : 0, y + first, ldc: ldy)
    }
  }

  private func withKernelView<R>(_ body: (UnsafePointer<zoo_weight_matrix>) -> R) -> R {
    var view = zoo_weight_matrix(
      format: format.kernelFormat, data: data, scales: scales, rows: Int64(rows), columns: Int64(columns))
    return withUnsafePointer(to: &view) { body($0) }
  }
}

extension WeightMatrix {
  /// This matrix quantised to Q8 (a copy this value owns), or nil when its rows are not
  /// whole blocks of 32.
  public func quantizedQ8() -> WeightMatrix? {
    guard columns % Self.q8Block == 0 else { return nil }
    let blocksPerRow = columns / Self.q8Block
    let values = OwnedBytes(count: rows * columns)
    let scales = OwnedFloats(count: rows * blocksPerRow) { _ in }
    let row = UnsafeMutablePointer<Float>.allocate(capacity: columns)
    defer { row.deallocate() }
    for r in 0..<rows {
      widenRow(r, into: row)
      zoo_quantize_q8(
        row, Int64(columns), values.pointer.assumingMemoryBound(to: Int8.self) + r * columns,
        scales.pointer + r * blocksPerRow)
    }
    return WeightMatrix(
      format: .q8, rows: rows, columns: columns, data: UnsafeRawPointer(values.pointer),
      scales: UnsafePointer(scales.pointer), owners: [values, scales])
  }

  /// The parts' rows one after another in one owned matrix, in their common format (float32
  /// when they differ).
  public init(stacking parts: [WeightMatrix]) {
    precondition(!parts.isEmpty && parts.allSatisfy { $0.columns == parts[0].columns })
    let columns = parts[0].columns
    let rows = parts.reduce(0) { $0 + $1.rows }
    let format = parts.allSatisfy { $0.format == parts[0].format } ? parts[0].format : .f32
    let values = OwnedBytes(count: rows * columns * format.elementBytes)
    let blocksPerRow = format == .q8 ? columns / Self.q8Block : 0
    let scales = OwnedFloats(count: rows * blocksPerRow) { _ in }
    var row = 0
    for part in parts {
      if format == part.format {
        let bytes = part.rows * columns * format.elementBytes
        (values.pointer + row * columns * format.elementBytes).copyMemory(from: part.data, byteCount: bytes)
        if let s = part.scales { (scales.pointer + row * blocksPerRow).update(from: s, count: part.rows * blocksPerRow) }
      } else {
        part.widenRows(0..<part.rows, into: values.pointer.assumingMemoryBound(to: Float.self) + row * columns)
      }
      row += part.rows
    }
    self.init(
      format: format, rows: rows, columns: columns, data: UnsafeRawPointer(values.pointer),
      scales: format == .q8 ? UnsafePointer(scales.pointer) : nil, owners: [values, scales])
  }
}

/// Bytes derived from weights at load (a quantised or stacked matrix), owned by the model.
public final class OwnedBytes: @unchecked Sendable {
  public let pointer: UnsafeMutableRawPointer
  public let count: Int

  /// `count` bytes, 64-byte aligned, zeroed.
  public init(count: Int) {
    self.count = count
    pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
  }

  deinit { pointer.deallocate() }
}

/// Pointers handed to `concurrentPerform` workers, which write disjoint parts.
private struct SendablePointer: @unchecked Sendable { let pointer: UnsafeMutablePointer<Float> }
private struct SendableView: @unchecked Sendable { let view: UnsafePointer<zoo_weight_matrix> }
