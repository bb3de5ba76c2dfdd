import Foundation
import XCTest
import ZooCore

/// The vectorised maths the scans rely on, against libm in double precision. The scan
/// multiplies thousands of exp results into its state, so these must stay at float32
/// rounding level, not merely "close".
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
    let (error, at) = worstRelativeError(grid(-87...88), Kernels.exp, Foundation.exp)
    XCTAssertLessThan(error, 3e-7, "Kernels.exp relative error \(error) at \(at)")
    XCTAssertEqual(Kernels.exp(SIMD8(repeating: -1000))[0], 0, accuracy: 1e-37)
    XCTAssertTrue(Kernels.exp(SIMD8(repeating: 1000))[0].isFinite)
  }

  func testExp2IsAccurate() {
    let (error, at) = worstRelativeError(grid(-126...0), Kernels.exp2NonPositive, { Foundation.pow(2, $0) })
    XCTAssertLessThan(error, 3e-7, "Kernels.exp2NonPositive relative error \(error) at \(at)")
    XCTAssertEqual(Kernels.exp2NonPositive(SIMD8(repeating: -500))[0], 0, accuracy: 1e-37)
  }

  func testSoftplusAndSiLUMatchTorchDefinitions() {
    // torch softplus: x for x > 20, else log1p(exp(x)).
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
    for r in 0..<2 {
      let row = x[r * 20..<(r + 1) * 20]
      let scale = 1 / (row.map { Double($0 * $0) }.reduce(0, +) / 20 + 1e-5).squareRoot()
      for (i, v) in row.enumerated() {
        XCTAssertEqual(y[r * 20 + i], Float(Double(w[i]) * Double(v) * scale), accuracy: 1e-5)
      }
    }

    // Causal conv with K = 3 over 11 channels (a vector block and a scalar tail), fed in
    // two calls: the carried history must make it equal to one call.
    let (k, c, rows) = (3, 11, 5)
    let input: [Float] = (0..<rows * c).map { Float(($0 * 37) % 17) / 8 - 1 }
    let weight: [Float] = (0..<k * c).map { Float(($0 * 13) % 11) / 10 - 0.5 }
    let bias: [Float] = (0..<c).map { Float($0) / 20 }
    func reference(_ t: Int, _ ch: Int) -> Float {
      var acc = bias[ch]
      for j in 0..<k where t - (k - 1) + j >= 0 { acc += weight[j * c + ch] * input[(t - (k - 1) + j) * c + ch] }
      return Kernels.silu(acc)
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
    for t in 0..<rows {
      for ch in 0..<c { XCTAssertEqual(out[t * c + ch], reference(t, ch), accuracy: 1e-5, "conv t \(t) c \(ch)") }
    }
    // The history holds the last K inputs, oldest first.
    XCTAssertEqual(history, Array(input[(rows - k) * c..<rows * c]))
  }
}
