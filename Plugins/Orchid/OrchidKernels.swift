#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Row kernels ZooCore does not have yet (LayerNorm, exact GELU) and the depthwise
/// convolutions of Orchid's conditioning network. Buffers are row-major; nothing here
/// allocates.
enum OrchidKernels {
  /// PyTorch `nn.LayerNorm(width)` over each row: `(x − mean) / sqrt(var + ε) · w + b`,
  /// with the biased variance. `y` may equal `x`.
  static func layerNorm(
    _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    epsilon: Float, into y: UnsafeMutablePointer<Float>
  ) {
    for r in 0..<rows {
      let src = x + r * width
      let dst = y + r * width
      // Sums in eight lanes, so the reductions vectorise.
      var lanes = SIMD8<Float>()
      var i = 0
      while i + 8 <= width {
        lanes += UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
      }
      var sum = lanes.sum()
      while i < width {
        sum += src[i]
        i += 1
      }
      let mean = sum / Float(width)
      lanes = SIMD8<Float>()
      i = 0
      while i + 8 <= width {
        let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self) - mean
        lanes += v * v
        i += 8
      }
      var variance = lanes.sum()
      while i < width {
        variance += (src[i] - mean) * (src[i] - mean)
        i += 1
      }
      let scale = 1 / (variance / Float(width) + epsilon).squareRoot()
      for i in 0..<width { dst[i] = (src[i] - mean) * scale * weight[i] + bias[i] }
    }
  }

  /// Exact (erf) GELU in place, as `nn.GELU()`: x · (1 + erf(x/√2)) / 2.
  static func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.707_106_77)) }
  }

  /// Depthwise 1-D 'same' convolution over rows (K odd, (K−1)/2 zeros on each side), as
  /// PyTorch's `Conv1d(groups=channels, padding=(K−1)/2)` whose output channel j reads
  /// input channel `j / outputsPerChannel`:
  ///
  ///     out[t, j] = bias[j] + Σ_{m<K} weight[m, j] · in[t − (K−1)/2 + m, j / outputsPerChannel]
  ///
  /// with in[s] = 0 outside 0..<rows: the official conditioning network's convolutions.
  ///
  /// - Parameters:
  ///   - input: [rows, channels], rows `inputStride` apart.
  ///   - weight: [K, channels · outputsPerChannel] (PyTorch's [out, 1, K] transposed).
  ///   - output: [rows, channels · outputsPerChannel], contiguous.
  static func sameDepthwiseConv(
    _ input: UnsafePointer<Float>, rows: Int, channels: Int, inputStride: Int, outputsPerChannel: Int,
    kernelSize: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    into output: UnsafeMutablePointer<Float>
  ) {
    let width = channels * outputsPerChannel
    for t in 0..<rows {
      let dst = output + t * width
      if let bias { dst.update(from: bias, count: width) } else { dst.update(repeating: 0, count: width) }
      for m in 0..<kernelSize {
        let s = t - (kernelSize - 1) / 2 + m
        guard s >= 0, s < rows else { continue }
        let src = input + s * inputStride
        let w = weight + m * width
        switch outputsPerChannel {
        case 1: for j in 0..<width { dst[j] += w[j] * src[j] }
        case 2: for j in 0..<width { dst[j] += w[j] * src[j >> 1] }
        default: for j in 0..<width { dst[j] += w[j] * src[j / outputsPerChannel] }
        }
      }
    }
  }
}
