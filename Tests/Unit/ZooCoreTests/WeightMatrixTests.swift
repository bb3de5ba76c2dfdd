import XCTest

@testable import ZooCore

/// Products over F16, BF16 and Q8 weights against a naive double-precision product of
/// the same weights widened in Swift, on every path (few rows in place, split over
/// threads, in every tile of the kernel, many rows through OpenBLAS over widened blocks).
final class WeightMatrixTests: XCTestCase {
  /// Deterministic values in (-scale, scale).
  private func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
  }

  /// bfloat16 bits of `x`, rounded to nearest even as PyTorch's `.to(torch.bfloat16)`.
  private func bf16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    return UInt16((bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
  }

  /// The matrix in `format` over its own copy of `weights`, and the weights it holds,
  /// widened independently of the kernels.
  private func matrix(_ weights: [Float], rows: Int, columns: Int, format: WeightMatrix.Format) -> (
    WeightMatrix, [Float]
  ) {
    let f32 = OwnedFloats(count: weights.count) { $0.update(from: weights, count: weights.count) }
    let plain = WeightMatrix(UnsafePointer(f32.pointer), rows: rows, columns: columns, owners: [f32])
    switch format {
    case .f32:
      return (plain, weights)
    case .f16, .bf16:
      let halves = weights.map { format == .f16 ? Float16($0).bitPattern : bf16Bits($0) }
      let bytes = OwnedBytes(count: halves.count * 2)
      bytes.pointer.copyMemory(from: halves, byteCount: halves.count * 2)
      let held = halves.map { format == .f16 ? Float(Float16(bitPattern: $0)) : Float(bitPattern: UInt32($0) << 16) }
      return (WeightMatrix(format: format, rows: rows, columns: columns, data: bytes.pointer, owners: [bytes]), held)
    case .q8:
      let q = plain.quantizedQ8()!
      var held: [Float] = []
      for block in stride(from: 0, to: weights.count, by: 32) {
        let part = weights[block..<(block + 32)]
        let scale = part.map(abs).max()! / 127
        held += part.map { scale == 0 ? 0 : ($0 * (1 / scale)).rounded() * scale }
      }
      return (q, held)
    }
  }

  private func reference(_ x: [Float], count: Int, _ w: [Float], rows: Int, columns: Int) -> [Double] {
    var y = [Double](repeating: 0, count: count * rows)
    for r in 0..<count {
      for o in 0..<rows {
        var sum = 0.0
        for k in 0..<columns { sum += Double(x[r * columns + k]) * Double(w[o * columns + k]) }
        y[r * rows + o] = sum
      }
    }
    return y
  }

  func testProductsMatchTheWidenedWeightsOnEveryPath() {
    // 1030 columns: two kernel chunks and a tail of 6 (not Q8: not whole blocks).
    for (rows, columns) in [(37, 96), (700, 1030), (300, 1024)] {
      let weights = values(rows * columns, seed: UInt64(rows), scale: 0.1)
      for format in WeightMatrix.Format.allCases where format != .q8 || columns % 32 == 0 {
        let (m, held) = matrix(weights, rows: rows, columns: columns, format: format)
        XCTAssertEqual(m.format, format)
        for count in [1, 2, 3, 4, 5, 8, 16, 17, 40] {
          let x = values(count * columns, seed: UInt64(count))
          let expected = reference(x, count: count, held, rows: rows, columns: columns)
          // Strided rows, accumulating onto ones.
          let ldx = columns + 3
          let ldy = rows + 5
          var xs = [Float](repeating: 0, count: count * ldx)
          for r in 0..<count { for k in 0..<columns { xs[r * ldx + k] = x[r * columns + k] } }
          var y = [Float](repeating: 1, count: count * ldy)
          m.multiply(xs, ldx: ldx, count: count, into: &y, ldy: ldy, accumulate: true)
          var worst = 0.0
          for r in 0..<count {
            for o in 0..<rows { worst = max(worst, abs(Double(y[r * ldy + o]) - 1 - expected[r * rows + o])) }
            for o in rows..<ldy { XCTAssertEqual(y[r * ldy + o], 1, "a product wrote outside its rows") }
          }
          XCTAssertLessThan(worst, 1e-4, "\(format) \(rows)x\(columns), \(count) rows")
        }
      }
    }
  }

  func testQ8KeepsEveryWeightWithinHalfAStep() {
    let weights = values(64 * 256, seed: 7)
    let (q, held) = matrix(weights, rows: 64, columns: 256, format: .q8)
    var widened = [Float](repeating: 0, count: weights.count)
    q.widenRows(0..<64, into: &widened)
    XCTAssertEqual(widened, held)
    for block in stride(from: 0, to: weights.count, by: 32) {
      let step = weights[block..<(block + 32)].map(abs).max()! / 127
      for i in block..<(block + 32) { XCTAssertLessThanOrEqual(abs(widened[i] - weights[i]), step / 2 * 1.0001) }
    }
    XCTAssertEqual(q.byteCount, 64 * 256 + 64 * 8 * 4)
  }

  func testRowViewsAndStackingKeepTheFormat() {
    let a = matrix(values(40 * 64, seed: 1), rows: 40, columns: 64, format: .bf16).0
    let b = matrix(values(24 * 64, seed: 2), rows: 24, columns: 64, format: .bf16).0
    let c = matrix(values(8 * 64, seed: 3), rows: 8, columns: 64, format: .f32).0
    let same = WeightMatrix(stacking: [a, b])
    XCTAssertEqual(same.format, .bf16)
    XCTAssertEqual(same.rows, 64)
    let mixed = WeightMatrix(stacking: [a, c])
    XCTAssertEqual(mixed.format, .f32)
    var whole = [Float](repeating: 0, count: 64 * 64)
    var parts = [Float](repeating: 0, count: 64 * 64)
    same.widenRows(0..<64, into: &whole)
    parts.withUnsafeMutableBufferPointer { p in
      a.widenRows(0..<40, into: p.baseAddress!)
      b.widenRows(0..<24, into: p.baseAddress! + 40 * 64)
    }
    XCTAssertEqual(whole, parts)
    var tail = [Float](repeating: 0, count: 24 * 64)
    same.rows(40..<64).widenRows(0..<24, into: &tail)
    XCTAssertEqual(Array(whole[(40 * 64)...]), tail)
  }
}
