import CZooKernels
import Foundation

/// A weight matrix `[rows, columns]` (PyTorch `nn.Linear` layout `[out, in]`) in the
/// format it is kept in: float32, the checkpoint's own 16-bit floats, or 8-bit blocks.
///
/// Products widen 16- and 8-bit weights to float32 inside the kernel and accumulate in
/// float32, so a decode step reads half or about a quarter of float32's bytes. A few x
/// rows (decode steps, batched or not) go through `CZooKernels` in every format; many
/// (a prefill, where the product, not the reading, is the cost) through OpenBLAS, over
/// widened blocks of weight rows when the weights are not float32.
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
    if count <= Self.fewRows {
      multiplyFewRows(x, ldx: ldx, count: count, into: y, ldy: ldy, accumulate: accumulate)
    } else {
      multiplyManyRows(x, ldx: ldx, count: count, into: y, ldy: ldy, accumulate: accumulate)
    }
  }

  /// Up to this many x rows, products read the weights in place; beyond, OpenBLAS
  /// multiplies them (widened blocks of them when they are not float32: at 16 rows the
  /// widening costs a sixteenth of the product).
  static let fewRows = 16
  /// The most weight rows OpenBLAS multiplies at a time: 256 rows of 4096 columns
  /// widened to float32 is 4 MiB.
  static let blockRows = 256

  /// A few x rows (decode steps): the kernels read the weights in place, on the pool
  /// (see `chunking`), allocating nothing.
  private func multiplyFewRows(
    _ x: UnsafePointer<Float>, ldx: Int, count: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool
  ) {
    let (threads, chunkRows) = chunking(count: count)
    withKernelView { view in
      zoo_weight_multiply_parallel(
        view, x, Int64(ldx), Int64(count), y, Int64(ldy), accumulate ? 1 : 0, Int64(chunkRows), Int32(threads))
    }
  }

  /// How a product over `count` x rows is split: over `BLAS.threads` threads (the pool of
  /// `zoo_pool.h`) when each gets enough to do, since a small matrix is faster on one
  /// thread than with a hand-off, in four chunks per thread (whole cache lines of y, so no
  /// two threads write one line) that threads claim as they come free. On a busy machine a
  /// thread that starts late takes fewer instead of holding up the step, where OpenBLAS
  /// splits a product in fixed parts and waits for the slowest.
  private func chunking(count: Int, largestChunk: Int = .max) -> (threads: Int, chunkRows: Int) {
    let work = rows * columns * max(format.elementBytes, count)
    let threads = min(BLAS.threads, max(1, work / (256 << 10)))
    guard threads > 1 else { return (1, min(largestChunk, rows)) }
    return (threads, min(largestChunk, ((rows + 4 * threads - 1) / (4 * threads) + 15) / 16 * 16))
  }

  /// Many x rows (a prefill): OpenBLAS on one thread for each block of weight rows
  /// (widened to float32 first when they are not), the blocks split over the pool as the
  /// few-rows products are. OpenBLAS's own threads would split each product in fixed
  /// parts, so one of them put behind another process would hold up the whole product.
  private func multiplyManyRows(
    _ x: UnsafePointer<Float>, ldx: Int, count: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool
  ) {
    let (threads, chunkRows) = chunking(count: count, largestChunk: Self.blockRows)
    let rows = self.rows
    var product = { (chunk: Int) in
      let first = chunk * chunkRows
      let end = min(rows, first + chunkRows)
      func multiply(_ weights: UnsafePointer<Float>) {
        BLAS.gemm(
          transA: false, transB: true, m: count, n: end - first, k: columns, x, lda: ldx, weights, ldb: columns,
          beta: accumulate ? 1 : 0, y + first, ldc: ldy, onOneThread: true)
      }
      if let f = float32 { return multiply(f + first * columns) }
      let block = UnsafeMutablePointer<Float>.allocate(capacity: (end - first) * columns)
      defer { block.deallocate() }
      widenRows(first..<end, into: block)
      multiply(block)
    }
    withUnsafeMutablePointer(to: &product) { context in
      zoo_parallel_for(Int64((rows + chunkRows - 1) / chunkRows), Int32(threads), { context, chunk in
        context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(chunk))
      }, context)
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
    HeldMemory.add(max(count, 1))
  }

  deinit {
    HeldMemory.add(-max(count, 1))
    pointer.deallocate()
  }
}

