import ZooCore
import ZooPluginKit

/// The optional MLP block zoo's Sessa language model puts after a Sessa layer (the
/// official repository has none; see the README):
///
///     h = h + fc2(GELU(fc1(LayerNorm(h))))      norm [D] + bias, fc1 [I, D] + bias, fc2 [D, I] + bias
struct SessaMLP: @unchecked Sendable {
  let normWeight, normBias: Weight
  let up, down: Linear
  let epsilon: Float

  /// Reads `<prefix>norm.*`, `<prefix>fc1.*` and `<prefix>fc2.*`.
  init(prefix: String, width: Int, inner: Int, epsilon: Float, weights: Weights) throws {
    normWeight = try weights.tensor(prefix + "norm.weight", shape: [width])
    normBias = try weights.tensor(prefix + "norm.bias", shape: [width])
    up = try Linear(weights, prefix + "fc1", in: width, out: inner, bias: true)
    down = try Linear(weights, prefix + "fc2", in: inner, out: width, bias: true)
    self.epsilon = epsilon
  }

  var weightBytes: Int { 2 * up.inFeatures * MemoryLayout<Float>.size + up.parameterBytes + down.parameterBytes }

  func scratchCount(rows: Int) -> Int { rows * (up.inFeatures + up.outFeatures) }

  /// `h ← h + MLP(h)` for rows h [rows, D].
  func forward(_ h: UnsafeMutablePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>) {
    let normed = scratch
    let inner = scratch + rows * up.inFeatures
    Kernels.layerNorm(
      h, rows: rows, width: up.inFeatures, weight: normWeight.pointer, bias: normBias.pointer, epsilon: epsilon,
      into: normed)
    up.apply(normed, rows: rows, into: inner)
    Kernels.geluInPlace(inner, count: rows * up.outFeatures)
    down.apply(inner, rows: rows, into: h, accumulate: true)
  }
}
