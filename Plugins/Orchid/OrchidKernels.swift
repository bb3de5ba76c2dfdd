/// The depthwise convolutions of Orchid's conditioning network (LayerNorm and GELU come
/// from ZooCore's `Kernels`). Buffers are row-major; nothing here allocates.
enum OrchidKernels {
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
