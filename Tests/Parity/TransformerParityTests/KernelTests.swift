import Foundation
import XCTest
import ZooCore

/// The ZooCore kernels the transformer plugin added, against their definitions in
/// float64 (libm's erf, two-pass LayerNorm, softmax). They are zoo's own Swift SIMD code,
/// not BLAS, so they compute the same on every x86-64 CPU; each bound is what the
/// approximation guarantees, in units of u = 2⁻²⁴ ≈ 6e-8 where that is clearer.
final class TransformerKernelTests: XCTestCase {
  /// Inputs from −8 to 8 in steps of 1/64, plus ±30.
  let grid: [Float] = (-512...512).map { Float($0) / 64 } + [-30, 30]

  func apply(_ kernel: (SIMD8<Float>) -> SIMD8<Float>, _ xs: [Float]) -> [Float] {
    var out: [Float] = []
    var i = 0
    while i < xs.count {
      var v = SIMD8<Float>(repeating: 0)
      for j in 0..<8 where i + j < xs.count { v[j] = xs[i + j] }
      let r = kernel(v)
      for j in 0..<8 where i + j < xs.count { out.append(r[j]) }
      i += 8
    }
    return out
  }

  func testErfAndGELU() throws {
    let erfs = apply(Kernels.erf, grid)
    var worstErf = 0.0
    for (x, e) in zip(grid, erfs) { worstErf = max(worstErf, abs(Double(e) - Foundation.erf(Double(x)))) }
    XCTAssertLessThan(worstErf, 4e-7, "erf absolute error (A&S 1.5e-7 plus float32 rounding)")

    var buffer = grid
    Kernels.geluInPlace(&buffer, count: buffer.count)
    var worstGelu = 0.0
    for (x, g) in zip(grid, buffer) {
      let exact = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
      worstGelu = max(worstGelu, abs(Double(g) - exact) / max(1, abs(exact)))
    }
    // 5 u: erf's error, halved by the 0.5·x·(1 + erf) form, plus two roundings.
    XCTAssertLessThan(worstGelu, 3e-7, "GELU error (absolute, relative above 1)")
    // Far left GELU is a tiny negative number (−5.9e-9 at −6), not 0 or −x. 1 + erf
    // cancels there, so only a sixth of it is accurate: 1e-9 still tells it from both.
    XCTAssertEqual(Double(buffer[grid.firstIndex(of: -6)!]), -6 * 0.5 * Foundation.erfc(6 / 2.0.squareRoot()), accuracy: 1e-9)
    print("kernels: erf max abs error \(worstErf), GELU \(worstGelu)")
  }

  func testSigmoidSoftmaxLayerNorm() throws {
    let sig = apply(Kernels.sigmoid, grid)
    // 5 u on values ≤ 1: exp's error plus the rounding of the sum and the division.
    for (x, s) in zip(grid, sig) { XCTAssertEqual(Double(s), 1 / (1 + Foundation.exp(-Double(x))), accuracy: 3e-7) }

    var row: [Float] = (0..<37).map { Float(sin(Double($0) * 1.7) * 9) }
    let reference = row.map { Foundation.exp(Double($0)) }
    let total = reference.reduce(0, +)
    Kernels.softmaxInPlace(&row, count: row.count)
    // Probabilities ≤ 0.5 here: 1e-7 is 3 u of the largest, exp's error plus the sum's.
    for (p, e) in zip(row, reference) { XCTAssertEqual(Double(p), e / total, accuracy: 1e-7) }

    let width = 45
    let x: [Float] = (0..<2 * width).map { Float(cos(Double($0) * 0.37) * 3 + 5) }
    let w: [Float] = (0..<width).map { 1 + Float($0) / 50 }
    let b: [Float] = (0..<width).map { Float($0) / 100 - 0.2 }
    var y = [Float](repeating: 0, count: x.count)
    Kernels.layerNorm(x, rows: 2, width: width, weight: w, bias: b, epsilon: 1e-12, into: &y)
    for r in 0..<2 {
      let xs = x[r * width..<(r + 1) * width].map(Double.init)
      let mean = xs.reduce(0, +) / Double(width)
      let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
      for i in 0..<width {
        let exact = (xs[i] - mean) / variance.squareRoot() * Double(w[i]) + Double(b[i])
        // Outputs up to ~4: 2e-6 is 8 u of that, the mean's and variance's float32 sums
        // of 45 terms plus the normalisation's roundings.
        XCTAssertEqual(Double(y[r * width + i]), exact, accuracy: 2e-6)
      }
    }
  }
}
