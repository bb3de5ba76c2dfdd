import ZooCore
import ZooPluginKit

/// The Type I conditioning network h_θ of the official `ConvKernel_Time_Frequency`
/// (cfg type 'absfreq', nn 'convtf', orchid_utils.py), which makes the data-dependent
/// part of the convolution kernel from the v stream q [L, D] (taken before the short conv):
///
///     z = LayerNorm_D(Conv1d_t(q))        depthwise over time, conv_filter_size taps
///     Z = rfft(z, n)/n,  P = Re(Z)² + Im(Z)²           n = L, or 2L for the time-domain path
///     H = LayerNorm_2D(Conv1d_f(P))       over the frequency axis, channel c → 2c, 2c+1
///     ĥ[f, c] = H[f, 2c] + i·H[f, 2c+1]
///
/// The power spectrum drops the phase, so ĥ does not move when the input is shifted.
/// Both convolutions pad symmetrically ('same') in the official code; zoo's causal variant
/// pads the time convolution on the left only (CausalOrchid.swift). Weight names under `conv_kernel_nn.`:
/// `nn_model.conv1d_ls.0.{weight,bias}`, `nn_model.norm_ls.0.norm_conv_kernel.{weight,bias}`,
/// and the same under `nn_model2.` with 2D output channels.
struct Conditioning: @unchecked Sendable {
  let d: Int
  let taps: Int
  /// [taps, D], [D] (nil without conv bias); the time LayerNorm's weight and bias [D].
  let timeConv: OwnedFloats
  let timeConvBias: Weight?
  let timeNorm, timeNormBias: Weight
  /// [taps, 2D], [2D]; the frequency LayerNorm's weight and bias [2D].
  let frequencyConv: OwnedFloats
  let frequencyConvBias: Weight?
  let frequencyNorm, frequencyNormBias: Weight
  /// nn.LayerNorm's default; the official code does not change it.
  static let epsilon: Float = 1e-5

  init(_ weights: Weights, prefix: String, config: OrchidOperatorConfig) throws {
    let (d, taps, bias) = (config.dModel, config.convKernel.convFilterSize, config.convKernel.bias)
    self.d = d
    self.taps = taps
    func conv(_ model: String, outputs: Int) throws -> (OwnedFloats, Weight?) {
      let name = prefix + model + ".conv1d_ls.0."
      let w = try weights.tensor(name + "weight", shape: [outputs, 1, taps])
      return (transposedTaps(w, channels: outputs, taps: taps), bias ? try weights.tensor(name + "bias", shape: [outputs]) : nil)
    }
    func norm(_ model: String, width: Int) throws -> (Weight, Weight) {
      let name = prefix + model + ".norm_ls.0.norm_conv_kernel."
      return (try weights.tensor(name + "weight", shape: [width]), try weights.tensor(name + "bias", shape: [width]))
    }
    let time = try conv("nn_model", outputs: d)
    let timeNorms = try norm("nn_model", width: d)
    let frequency = try conv("nn_model2", outputs: 2 * d)
    let frequencyNorms = try norm("nn_model2", width: 2 * d)
    timeConv = time.0
    timeConvBias = time.1
    timeNorm = timeNorms.0
    timeNormBias = timeNorms.1
    frequencyConv = frequency.0
    frequencyConvBias = frequency.1
    frequencyNorm = frequencyNorms.0
    frequencyNormBias = frequencyNorms.1
  }

  var floatCount: Int { 3 * taps * d + 3 * d + 6 * d }

  /// z = LayerNorm(Conv1d_t(q)) [rows, D] over q's rows (`inputStride` apart), padded
  /// with zeros on both sides as in the official code. (The causal variant runs the same
  /// weights as a left-padded conv with carried history.)
  func timeFeatures(_ q: UnsafePointer<Float>, rows: Int, inputStride: Int, into z: UnsafeMutablePointer<Float>) {
    OrchidKernels.sameDepthwiseConv(
      q, rows: rows, channels: d, inputStride: inputStride, outputsPerChannel: 1, kernelSize: taps,
      weight: timeConv.pointer, bias: timeConvBias?.pointer, into: z)
    normalizeTime(z, rows: rows)
  }

  /// LayerNorm over D of each row of z, in place.
  func normalizeTime(_ z: UnsafeMutablePointer<Float>, rows: Int) {
    Kernels.layerNorm(
      z, rows: rows, width: d, weight: timeNorm.pointer, bias: timeNormBias.pointer, epsilon: Self.epsilon, into: z)
  }

  /// ĥ = complex view of LayerNorm(Conv1d_f(P)): `power` [bins, D] to `kernel` [bins, 2D]
  /// floats, which is [bins, D] interleaved complex.
  func frequencyKernel(_ power: UnsafePointer<Float>, bins: Int, into kernel: UnsafeMutablePointer<Float>) {
    OrchidKernels.sameDepthwiseConv(
      power, rows: bins, channels: d, inputStride: d, outputsPerChannel: 2, kernelSize: taps,
      weight: frequencyConv.pointer, bias: frequencyConvBias?.pointer, into: kernel)
    Kernels.layerNorm(
      kernel, rows: bins, width: 2 * d, weight: frequencyNorm.pointer, bias: frequencyNormBias.pointer,
      epsilon: Self.epsilon, into: kernel)
  }
}
