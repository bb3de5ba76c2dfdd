import ZooCore
import ZooPluginKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A static long-convolution kernel of the operator (`fixed_conv`, `fixed_conv_res`): the
/// Hyena implicit filter of the official `ConvKernel_Static.filter` (orchid_utils.py),
/// evaluated once at load since it depends on weights only:
///
///     h = Linear_0(z);  h = sin(w_mod · freq ⊙ h)            z = pos_emb.z [l_max, emb_dim]
///     num_inner_mlps × { h = sin(w_mod · freq ⊙ Linear_i(h)) }
///     k = Linear_last(h) (no bias)                           [l_max, D]
///     k[τ, c] ← k[τ, c] · (exp(−t[τ] · |deltas[c]|) + shift)  t = pos_emb.t, when modulate
///
/// The official code builds one `Sin` module and appends it after every Linear, so its
/// `freq` is one parameter stored under every index (`implicit_filter.{1,3,5}.freq`); a
/// checkpoint that kept only one of those keys loads too.
struct ImplicitFilter: @unchecked Sendable {
  /// [l_max, D], time-major: `kernel[τ·D + c]` is tap τ of channel c.
  let kernel: OwnedFloats
  /// The per-channel skip `bias` [D] (the `d` of y = k ⊛ x + d ⊙ x).
  let skip: Weight

  /// Reads `<prefix>implicit_filter.*`, `pos_emb.*`, `modulation.deltas` and `bias`.
  init(_ weights: Weights, prefix: String, config: OrchidOperatorConfig) throws {
    let (l, d, order, e) = (config.lMax, config.dModel, config.filterOrder, config.embDim)
    let z = try weights.tensor(prefix + "pos_emb.z", shape: [1, l, e])
    let t = try weights.tensor(prefix + "pos_emb.t", shape: [1, l, 1])
    let deltas = try weights.tensor(prefix + "modulation.deltas", shape: [1, 1, d])
    skip = try weights.tensor(prefix + "bias", shape: [d])
    let sinIndices = (0...config.numInnerMlps).map { 2 * $0 + 1 }
    let sharedFreqName = sinIndices.map { prefix + "implicit_filter.\($0).freq" }.first(where: weights.contains)
    guard let sharedFreqName else {
      throw PluginError.notFound("weight '\(prefix)implicit_filter.1.freq' is missing from the model's safetensors files")
    }

    var hidden = [Float](repeating: 0, count: l * order)
    var next = [Float](repeating: 0, count: l * order)
    for (layer, sinIndex) in sinIndices.enumerated() {
      let index = sinIndex - 1
      let inputWidth = layer == 0 ? e : order
      let w = try weights.tensor(prefix + "implicit_filter.\(index).weight", shape: [order, inputWidth])
      let b = try weights.tensor(prefix + "implicit_filter.\(index).bias", shape: [order])
      let ownFreq = prefix + "implicit_filter.\(sinIndex).freq"
      let freq = try weights.tensor(weights.contains(ownFreq) ? ownFreq : sharedFreqName, shape: [1, order])
      let source = layer == 0 ? Array(z.buffer) : hidden
      source.withUnsafeBufferPointer { src in
        BLAS.linear(
          src.baseAddress!, rows: l, inFeatures: inputWidth, weight: w.pointer, outFeatures: order, into: &next)
      }
      for r in 0..<l {
        for j in 0..<order {
          next[r * order + j] = sinf(config.wMod * freq.pointer[j] * (next[r * order + j] + b.pointer[j]))
        }
      }
      swap(&hidden, &next)
    }
    let last = try weights.tensor(prefix + "implicit_filter.\(2 * config.numInnerMlps + 2).weight", shape: [d, order])
    let kernel = OwnedFloats(count: l * d) { _ in }
    BLAS.linear(hidden, rows: l, inFeatures: order, weight: last.pointer, outFeatures: d, into: kernel.pointer)
    if config.modulate {
      for r in 0..<l {
        for c in 0..<d {
          kernel.pointer[r * d + c] *= expf(-t.pointer[r] * abs(deltas.pointer[c])) + config.shift
        }
      }
    }
    self.kernel = kernel
  }
}
