import Foundation
import XCTest
import ZooCore
import ZooTestSupport

/// The vectorised maths the scans rely on, against libm in double precision. The scan
/// multiplies thousands of exp results into its state, so these must stay at float32
/// rounding level, not merely "close". These kernels are zoo's own Swift SIMD code, not
/// BLAS: they compute the same on every x86-64 CPU, and the bounds below are what their
/// approximations guarantee (in units of u = 2⁻²⁴ ≈ 6e-8).
final class KernelAccuracyTests: XCTestCase {
  /// Largest relative error of `vector` against `reference` over `inputs`.
  private func worstRelativeError(
    _ inputs: [Float], _ vector: (SIMD8<Float>) -> SIMD8<Float>, _ reference: (Double) -> Double
  ) -> (error: Double, at: Float) {
    var worst: (Double, Float) = (0, 0)
    for start in stride(from: 0, to: inputs.count - 7, by: 8) {
      var v = SIMD8<Float>()
      for i in 0..<8 { v[i] = inputs[start + i] }
      let out = vector(v)
      for i in 0..<8 {
        let expected = reference(Double(v[i]))
        let error = abs(Double(out[i]) - expected) / max(abs(expected), 1e-30)
        if error > worst.0 { worst = (error, v[i]) }
      }
    }
    return worst
  }

  private func grid(_ range: ClosedRange<Float>, count: Int = 200_000) -> [Float] {
    (0..<count).map { range.lowerBound + (range.upperBound - range.lowerBound) * Float($0) / Float(count - 1) }
  }

  func testExpIsAccurate() {
    // 5 u: the polynomial's own error (≈ 1 u) plus the rounding of the range reduction
    // and of the final 2^k scaling.
    let (error, at) = worstRelativeError(grid(-87...88), Kernels.exp, Foundation.exp)
    XCTAssertLessThan(error, 3e-7, "Kernels.exp relative error \(error) at \(at)")
    // Underflow: the kernel clamps its input, so it returns about float32's smallest normal
    // (1.2e-38) instead of 0, which no sum can tell apart from 0 beside a normal term.
    XCTAssertLessThan(Kernels.exp(SIMD8(repeating: -1000))[0], 1e-37)
    XCTAssertTrue(Kernels.exp(SIMD8(repeating: 1000))[0].isFinite)
  }

  func testExp2IsAccurate() {
    // 5 u, as for exp.
    let (error, at) = worstRelativeError(grid(-126...0), Kernels.exp2NonPositive, { Foundation.pow(2, $0) })
    XCTAssertLessThan(error, 3e-7, "Kernels.exp2NonPositive relative error \(error) at \(at)")
    XCTAssertLessThan(Kernels.exp2NonPositive(SIMD8(repeating: -500))[0], 1e-37)
  }

  func testSoftplusAndSiLUMatchTorchDefinitions() {
    // torch softplus: x for x > 20, else log1p(exp(x)). 8 u for both: exp's 5 u plus the
    // rounding of the log1p or of the division that follows it.
    let softplus = { (x: Double) in x > 20 ? x : Foundation.log1p(Foundation.exp(x)) }
    let (spError, spAt) = worstRelativeError(grid(-80...60), Kernels.softplus, softplus)
    XCTAssertLessThan(spError, 5e-7, "Kernels.softplus relative error \(spError) at \(spAt)")
    let silu = { (x: Double) in x / (1 + Foundation.exp(-x)) }
    let (siluError, siluAt) = worstRelativeError(grid(-80...80).filter { abs($0) > 1e-3 }, Kernels.silu, silu)
    XCTAssertLessThan(siluError, 5e-7, "Kernels.silu relative error \(siluError) at \(siluAt)")
  }

  func testRMSNormAndConvolutionMatchTheirDefinitions() {
    let x: [Float] = (0..<40).map { Float($0 % 7) - 2.5 }
    let w: [Float] = (0..<20).map { 1 + Float($0) / 10 }
    var y = [Float](repeating: 0, count: 40)
    Kernels.rmsNorm(x, rows: 2, width: 20, weight: w, epsilon: 1e-5, into: &y)
    let expectedNorm = (0..<2).flatMap { r in
      let row = x[r * 20..<(r + 1) * 20]
      let scale = 1 / (row.map { Double($0) * Double($0) }.reduce(0, +) / 20 + 1e-5).squareRoot()
      return row.enumerated().map { Float(Double(w[$0]) * Double($1) * scale) }
    }
    assertClose(y, expectedNorm, .float64Reference, "rmsNorm vs float64")

    // Causal conv with K = 3 over 11 channels (a vector block and a scalar tail), fed in
    // two calls: the carried history must make it equal to one call.
    let (k, c, rows) = (3, 11, 5)
    let input: [Float] = (0..<rows * c).map { Float(($0 * 37) % 17) / 8 - 1 }
    let weight: [Float] = (0..<k * c).map { Float(($0 * 13) % 11) / 10 - 0.5 }
    let bias: [Float] = (0..<c).map { Float($0) / 20 }
    func reference(_ t: Int, _ ch: Int) -> Float {
      var acc = Double(bias[ch])
      for j in 0..<k where t - (k - 1) + j >= 0 {
        acc += Double(weight[j * c + ch]) * Double(input[(t - (k - 1) + j) * c + ch])
      }
      return Float(acc / (1 + Foundation.exp(-acc)))
    }
    var history = [Float](repeating: 0, count: k * c)
    var out = [Float](repeating: 0, count: rows * c)
    input.withUnsafeBufferPointer { inp in
      out.withUnsafeMutableBufferPointer { o in
        Kernels.causalDepthwiseConv1d(
          inp.baseAddress!, rows: 2, channels: c, inputStride: c, history: &history, kernelSize: k, weight: weight,
          bias: bias, applySiLU: true, into: o.baseAddress!, outputStride: c)
        Kernels.causalDepthwiseConv1d(
          inp.baseAddress! + 2 * c, rows: rows - 2, channels: c, inputStride: c, history: &history, kernelSize: k,
          weight: weight, bias: bias, applySiLU: true, into: o.baseAddress! + 2 * c, outputStride: c)
      }
    }
    assertClose(out, (0..<rows * c).map { reference($0 / c, $0 % c) }, .float64Reference, "causal conv + SiLU in two calls vs float64")
    // The history holds the last K inputs, oldest first.
    XCTAssertEqual(history, Array(input[(rows - k) * c..<rows * c]))
  }
}
