import ZooCore
import ZooPluginKit

/// The Orchid operator (Karami & Ghodsi, "Orchid: Flexible and Data-Dependent Convolution
/// for Sequence Modeling", NeurIPS 2024), as the official `OrchidOperator.forward` computes
/// it (github.com/Karami-m/orchid 061f6df, orchid_standalone/orchid_standalone.py and
/// orchid_utils.py) with order 2, the 'fft' transform and Type I conditioning. For one
/// sequence u [L, D]:
///
///     p            = in_linear(u)                                 [L, 3D]
///     [x0 | x1 | v] = causal depthwise conv1d_short(p)             short_filter_order taps
///     ĥ            = conditioning(p[:, 2D:3D])                    (`Conditioning`)
///     K            = rfft(k, L)/L + ĥ                             k = fixed_conv kernel
///     w            = x1 ⊙ v
///     y            = x0 ⊙ (irfft(rfft(w, L)/L ⊙ K) + d ⊙ w)       d = fixed_conv.bias
///     y           += irfft(rfft(u, L)/L ⊙ rfft(k_res, L)/L) + d_res ⊙ u   (residual_long_conv 'sconv')
///     out          = out_linear(y)
///
/// with irfft unnormalised (norm='forward'): each product is a length-L circular
/// convolution scaled 1/L, so every output position sees the whole sequence
/// (`forward`). With `causal` = true the conditioning's kernel is made in the time
/// domain instead and added to k before the transform (the official default path).
///
/// zoo's causal variant, for generation, is `forwardCausal` (CausalOrchid.swift).
///
/// Immutable after init: `forward` may run on many threads at once.
public final class OrchidOperator: @unchecked Sendable {
  public let config: OrchidOperatorConfig
  var d: Int { config.dModel }

  /// [3D, D] and [3D].
  let inLinear, inLinearBias: Weight
  /// [D, D] and [D].
  let outLinear, outLinearBias: Weight
  /// conv1d_short.weight [3D, 1, K] transposed to [K, 3D]; its bias [3D].
  let shortConv: OwnedFloats
  let shortConvBias: Weight
  /// fixed_conv: the chain's static kernel and skip d.
  let kernel: ImplicitFilter
  /// fixed_conv_res, when residual_long_conv is 'sconv'.
  let residualKernel: ImplicitFilter?
  let conditioning: Conditioning
  /// Precomputed spectra of zoo's causal variant.
  let causalSpectra: CausalSpectra

  /// Reads the operator's weights under their official names after `prefix` ("" for a
  /// bare operator's state_dict, "layers.3.mixer." inside an `orchid` model).
  public init(_ weights: Weights, prefix: String, config: OrchidOperatorConfig) throws {
    try config.validate()
    self.config = config
    let d = config.dModel
    let k = config.shortFilterOrder
    inLinear = try weights.tensor(prefix + "in_linear.weight", shape: [3 * d, d])
    inLinearBias = try weights.tensor(prefix + "in_linear.bias", shape: [3 * d])
    outLinear = try weights.tensor(prefix + "out_linear.weight", shape: [d, d])
    outLinearBias = try weights.tensor(prefix + "out_linear.bias", shape: [d])
    let conv = try weights.tensor(prefix + "conv1d_short.weight", shape: [3 * d, 1, k])
    shortConv = transposedTaps(conv, channels: 3 * d, taps: k)
    shortConvBias = try weights.tensor(prefix + "conv1d_short.bias", shape: [3 * d])
    kernel = try ImplicitFilter(weights, prefix: prefix + "fixed_conv.", config: config)
    residualKernel =
      config.hasResidualConvolution ? try ImplicitFilter(weights, prefix: prefix + "fixed_conv_res.", config: config) : nil
    conditioning = try Conditioning(weights, prefix: prefix + "conv_kernel_nn.", config: config)
    causalSpectra = CausalSpectra(config: config, kernel: kernel, residualKernel: residualKernel)
  }

  /// Bytes of weights the operator reads (the static kernels counted as evaluated).
  var weightBytes: Int {
    let d = config.dModel
    let floats =
      4 * d * d + 4 * d + shortConv.count + 3 * d + (1 + (residualKernel == nil ? 0 : 1)) * (config.lMax + 1) * d
      + conditioning.floatCount
    return floats * MemoryLayout<Float>.size
  }

  /// The bidirectional operator over one whole sequence: `input` and `output` are
  /// [length, D] row-major. Lengths above l_max run with the static kernels zero beyond
  /// l_max taps, as the official rfft(k, n=L) pads them.
  public func forward(_ input: UnsafePointer<Float>, length: Int, into output: UnsafeMutablePointer<Float>) {
    precondition(length > 0)
    let (l, d) = (length, config.dModel)
    let fft = RealFFT.plan(n: l, channels: d)
    let bins = fft.bins
    // The conditioning transform: length L, or 2L when its kernel goes to the time domain.
    let conditioningFFT = config.causal ? RealFFT.plan(n: 2 * l, channels: d) : fft
    let cBins = conditioningFFT.bins
    let ws = FFTWorkspace(counts: [
      3 * l * d, 3 * l * d, config.shortFilterOrder * 3 * d, conditioningFFT.n * d, 2 * cBins * d, cBins * d,
      2 * cBins * d, l * d, 2 * bins * d, l * d, 2 * bins * d, l * d, conditioningFFT.n * d,
    ])
    let p = ws.take(3 * l * d)
    let c = ws.take(3 * l * d)
    let history = ws.take(config.shortFilterOrder * 3 * d)
    let z = ws.take(conditioningFFT.n * d)
    let zSpectrum = ws.take(2 * cBins * d)
    let power = ws.take(cBins * d)
    let adaptive = ws.take(2 * cBins * d)
    let time = ws.take(l * d)
    let kSpectrum = ws.take(2 * bins * d)
    let w = ws.take(l * d)
    let wSpectrum = ws.take(2 * bins * d)
    let y = ws.take(l * d)
    let scratch = ws.take(conditioningFFT.n * d)

    project(input, rows: l, into: p)
    history.update(repeating: 0, count: config.shortFilterOrder * 3 * d)
    shortConvolution(p, rows: l, history: history, into: c)

    // Conditioning: ĥ [bins, D] complex, from the v stream before the short conv.
    conditioning.timeFeatures(p + 2 * d, rows: l, inputStride: 3 * d, into: z)
    (z + l * d).update(repeating: 0, count: (conditioningFFT.n - l) * d)
    conditioningFFT.forward(z, into: zSpectrum)
    powerSpectrum(zSpectrum, count: cBins * d, scale: 1 / Float(conditioningFFT.n), into: power)
    conditioning.frequencyKernel(power, bins: cBins, into: adaptive)

    // K = rfft(k + h)/L with the time-domain kernel h, or rfft(k)/L + ĥ.
    staticTaps(kernel, rows: l, into: time)
    if config.causal {
      conditioningFFT.inverse(adaptive, into: scratch)
      for i in 0..<(l * d) { time[i] += scratch[i] }
    }
    fft.forward(time, into: kSpectrum)
    scale(kSpectrum, count: 2 * bins * d, by: 1 / Float(l))
    if !config.causal {
      for i in 0..<(2 * bins * d) { kSpectrum[i] += adaptive[i] }
    }

    // The gating chain: y = x0 ⊙ ((k + h) ⊛ w / L + d ⊙ w), w = x1 ⊙ v.
    for r in 0..<l {
      for j in 0..<d { w[r * d + j] = c[r * 3 * d + d + j] * c[r * 3 * d + 2 * d + j] }
    }
    fft.forward(w, into: wSpectrum)
    multiplySpectra(wSpectrum, kSpectrum, count: bins * d, scale: 1 / Float(l))
    fft.inverse(wSpectrum, into: y)
    let skip = kernel.skip.pointer
    for r in 0..<l {
      for j in 0..<d {
        let i = r * d + j
        y[i] = c[r * 3 * d + j] * (y[i] + skip[j] * w[i])
      }
    }

    // Residual long convolution of the input: k_res ⊛ u / L + d_res ⊙ u.
    if let residualKernel {
      let u = w  // w is no longer needed
      u.update(from: input, count: l * d)
      staticTaps(residualKernel, rows: l, into: time)
      fft.forward(time, into: kSpectrum)
      fft.forward(u, into: wSpectrum)
      multiplySpectra(wSpectrum, kSpectrum, count: bins * d, scale: 1 / Float(l * l))
      fft.inverse(wSpectrum, into: scratch)
      let skip = residualKernel.skip.pointer
      for r in 0..<l {
        for j in 0..<d {
          let i = r * d + j
          y[i] += scratch[i] + skip[j] * u[i]
        }
      }
    }
    BLAS.linear(y, rows: l, inFeatures: d, weight: outLinear.pointer, outFeatures: d, into: output)
    addRowBias(outLinearBias.pointer, to: output, rows: l, width: d)
  }

  // MARK: Pieces shared with the causal variant

  /// p = in_linear(u) [rows, 3D].
  func project(_ u: UnsafePointer<Float>, rows: Int, into p: UnsafeMutablePointer<Float>) {
    BLAS.linear(u, rows: rows, inFeatures: d, weight: inLinear.pointer, outFeatures: 3 * d, into: p)
    addRowBias(inLinearBias.pointer, to: p, rows: rows, width: 3 * d)
  }

  /// The causal depthwise short conv over all 3D channels, continuing `history`.
  func shortConvolution(
    _ p: UnsafePointer<Float>, rows: Int, history: UnsafeMutablePointer<Float>, into c: UnsafeMutablePointer<Float>
  ) {
    Kernels.causalDepthwiseConv1d(
      p, rows: rows, channels: 3 * d, inputStride: 3 * d, history: history, kernelSize: config.shortFilterOrder,
      weight: shortConv.pointer, bias: shortConvBias.pointer, applySiLU: false, into: c, outputStride: 3 * d)
  }
}

/// The static kernel's first `rows` taps [rows, D], zero beyond l_max.
func staticTaps(_ filter: ImplicitFilter, rows: Int, into out: UnsafeMutablePointer<Float>) {
  let d = filter.skip.count
  let kept = min(rows, filter.kernel.count / d)
  out.update(from: filter.kernel.pointer, count: kept * d)
  (out + kept * d).update(repeating: 0, count: (rows - kept) * d)
}

/// A PyTorch depthwise conv weight [channels, 1, taps] as [taps, channels].
func transposedTaps(_ weight: Weight, channels: Int, taps: Int) -> OwnedFloats {
  let out = OwnedFloats(count: taps * channels) { _ in }
  for c in 0..<channels {
    for m in 0..<taps { out.pointer[m * channels + c] = weight.pointer[c * taps + m] }
  }
  return out
}

/// Adds `bias` [width] to each row of x [rows, width].
func addRowBias(_ bias: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
  for r in 0..<rows {
    for j in 0..<width { x[r * width + j] += bias[j] }
  }
}

/// x[i] *= factor.
func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
  for i in 0..<count { x[i] *= factor }
}

/// |scale · X|² of `count` interleaved complex values.
func powerSpectrum(
  _ spectrum: UnsafePointer<Float>, count: Int, scale: Float, into power: UnsafeMutablePointer<Float>
) {
  for i in 0..<count {
    let re = spectrum[2 * i] * scale
    let im = spectrum[2 * i + 1] * scale
    power[i] = re * re + im * im
  }
}

/// a[i] ← a[i] · b[i] · scale for `count` interleaved complex values.
func multiplySpectra(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int, scale: Float) {
  for i in 0..<count {
    let (ar, ai, br, bi) = (a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1])
    a[2 * i] = (ar * br - ai * bi) * scale
    a[2 * i + 1] = (ar * bi + ai * br) * scale
  }
}
