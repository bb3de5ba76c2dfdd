#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small float32 kernels shared by plugins: vectorised elementwise maths (exp, SiLU,
/// softplus), RMSNorm over rows, and a causal depthwise 1-D convolution with carried
/// history. Buffers are row-major; nothing here allocates.
///
/// The SIMD functions work on `SIMD8<Float>` and use only adds, multiplies, compares and
/// integer shifts, so they vectorise on baseline x86-64 (SSE2) as well as on NEON.
public enum Kernels {
  // MARK: Vector loads and stores

  /// Eight consecutive floats from `p` (no alignment needed).
  @inlinable @inline(__always)
  public static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
  }

  /// Stores eight floats at `p` (no alignment needed).
  @inlinable @inline(__always)
  public static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
  }

  // MARK: Elementwise maths

  /// e^x per lane, within about 2 ulp of `expf` for x in [-87.3, 88.3]. Below that range
  /// the result is about 1e-38 instead of a denormal or 0; above it, about 2e38.
  @inlinable @inline(__always)
  public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    expCore(x.replacing(with: 88.3, where: x .> 88.3).replacing(with: -87.3, where: x .< -87.3))
  }

  /// 2^y per lane for y ≤ 0, within about 2 ulp (Cephes `exp2f` polynomial on the
  /// fractional part, 2^k built in the exponent bits); below −126 the result is 2^−126.
  /// Cheaper than `exp`: a scan that multiplies its rates by log2(e) once at load time can
  /// use it for e^x without the Cody–Waite reduction.
  @inlinable @inline(__always)
  public static func exp2NonPositive(_ y: SIMD8<Float>) -> SIMD8<Float> {
    let y = y.replacing(with: -126, where: y .< -126)
    let magic: Float = 12_582_912
    let shifted = y + magic
    let f = y - (shifted - magic)  // in [−0.5, 0.5], exact
    var p: SIMD8<Float> = SIMD8(repeating: 1.535_336_188_319_500e-4)
    p = p * f + 1.339_887_440_266_574e-3
    p = p * f + 9.618_437_357_674_640e-3
    p = p * f + 5.550_332_471_162_809e-2
    p = p * f + 2.402_264_791_363_012e-1
    p = p * f + 6.931_472_028_550_421e-1
    return (p * f + 1) * powerOfTwo(roundedBy: shifted)
  }

  /// 2^k per lane, where `shifted` = k + 1.5·2^23 (so k sits in the low mantissa
  /// bits): k is moved into the exponent field directly.
  @inlinable @inline(__always)
  static func powerOfTwo(roundedBy shifted: SIMD8<Float>) -> SIMD8<Float> {
    let kBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return unsafeBitCast((kBits &+ 127) &<< 23, to: SIMD8<Float>.self)
  }

  /// e^x for x already in [-87.3, 88.3]: Cody–Waite reduction x = k·ln2 + r with
  /// |r| ≤ ln2/2, the Cephes `expf` polynomial for e^r, and 2^k built directly in the
  /// exponent bits.
  @inlinable @inline(__always)
  static func expCore(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Round x·log2(e) to the nearest integer by adding and subtracting 1.5·2^23; the low
    // mantissa bits of the sum then hold k as an integer.
    let magic: Float = 12_582_912
    let shifted = x * 1.442_695_04 + magic
    let k = shifted - magic
    let r = x - k * 0.693_359_375 + k * 2.121_944_4e-4
    let r2 = r * r
    var p: SIMD8<Float> = SIMD8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    return (p * r2 + r + 1) * powerOfTwo(roundedBy: shifted)
  }

  /// ln(1 + u) per lane for u in [0, 1] (about 2 ulp), as the softplus tail needs.
  @inlinable @inline(__always)
  public static func log1pUnit(_ u: SIMD8<Float>) -> SIMD8<Float> {
    let w = 1 + u  // in [1, 2]
    // Bring w into [√½, √2]: halve it when above √2 and add ln 2 back at the end.
    let high = w .> 1.414_213_56
    let m = w.replacing(with: w * 0.5, where: high)
    let e = SIMD8<Float>(repeating: 0).replacing(with: 1, where: high)
    let f = m - 1
    let f2 = f * f
    var p: SIMD8<Float> = SIMD8(repeating: 7.037_683_629_2e-2)
    p = p * f - 1.151_461_031_0e-1
    p = p * f + 1.167_699_874_0e-1
    p = p * f - 1.242_014_084_6e-1
    p = p * f + 1.424_932_278_7e-1
    p = p * f - 1.666_805_766_5e-1
    p = p * f + 2.000_071_476_5e-1
    p = p * f - 2.499_999_399_3e-1
    p = p * f + 3.333_333_117_4e-1
    var y = p * f * f2 + e * -2.121_944_40e-4 - 0.5 * f2
    y = f + y + e * 0.693_359_375
    // 1 + u was rounded; add back the lost part to first order.
    return y + (u - (w - 1)) / w
  }

  /// softplus(x) = ln(1 + e^x) per lane, as torch.nn.functional.softplus (beta 1,
  /// threshold 20): written max(x, 0) + ln(1 + e^−|x|), which equals x in float32
  /// wherever torch switches to the identity.
  @inlinable @inline(__always)
  public static func softplus(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let magnitude = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
    let positive = x.replacing(with: 0, where: x .< 0)
    return positive + log1pUnit(exp(-magnitude))
  }

  /// SiLU(x) = x·σ(x) = x / (1 + e^−x) per lane.
  @inlinable @inline(__always)
  public static func silu(_ x: SIMD8<Float>) -> SIMD8<Float> {
    x / (1 + exp(-x))
  }

  /// Scalar softplus with torch's threshold: x above 20 is returned as is.
  @inlinable
  public static func softplus(_ x: Float) -> Float {
    x > 20 ? x : log1pf(expf(x))
  }

  /// Scalar SiLU(x) = x / (1 + e^−x).
  @inlinable
  public static func silu(_ x: Float) -> Float {
    x / (1 + expf(-x))
  }

  /// In-place SiLU over `count` floats.
  public static func siluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
      store8(silu(load8(x + i)), x + i)
      i += 8
    }
    while i < count {
      x[i] = silu(x[i])
      i += 1
    }
  }

  // MARK: Normalisation

  /// RMSNorm of each row: `y[r, :] = w ⊙ x[r, :] / sqrt(mean(x[r, :]²) + epsilon)`, in
  /// float32 as Hugging Face's LlamaRMSNorm / MambaRMSNorm. `y` may equal `x`.
  public static func rmsNorm(
    _ x: UnsafePointer<Float>, rows: Int, width: Int, inputStride: Int? = nil,
    weight: UnsafePointer<Float>, epsilon: Float,
    into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil
  ) {
    let ldx = inputStride ?? width
    let ldy = outputStride ?? width
    for r in 0..<rows {
      let src = x + r * ldx
      let dst = y + r * ldy
      let scale = 1 / (sumOfSquares(src, count: width) / Float(width) + epsilon).squareRoot()
      var i = 0
      while i + 8 <= width {
        store8(load8(weight + i) * (load8(src + i) * scale), dst + i)
        i += 8
      }
      while i < width {
        dst[i] = weight[i] * (src[i] * scale)
        i += 1
      }
    }
  }

  /// Σ x[i]² over `count` floats, accumulated in eight float32 lanes.
  @inlinable
  public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
      let v = load8(x + i)
      acc += v * v
      i += 8
    }
    var total = acc.sum()
    while i < count {
      total += x[i] * x[i]
      i += 1
    }
    return total
  }

  // MARK: Convolution

  /// Causal depthwise 1-D convolution over time with carried history, as PyTorch's
  /// `Conv1d(groups=channels, padding=K−1)` truncated to the first L outputs:
  ///
  ///     out[t, c] = bias[c] + Σ_{w<K} weight[w, c] · in[t − (K−1) + w, c]
  ///
  /// where in[s] for s < 0 is taken from `history` (the H most recent earlier inputs,
  /// oldest first, [H, channels]; zeros for a fresh sequence). Afterwards `history` holds
  /// the H most recent inputs including these L rows. With the default H = K this is the
  /// layout of Hugging Face's conv cache transposed to time-major; H = K − 1 is the least
  /// the convolution needs.
  ///
  /// - Parameters:
  ///   - input: [L, channels] rows with stride `inputStride`.
  ///   - weight: [K, channels], time-major (PyTorch's [channels, 1, K] transposed).
  ///   - bias: [channels], or nil.
  ///   - applySiLU: apply SiLU to each output (Mamba's conv activation).
  ///   - output: [L, channels] rows with stride `outputStride`; must not alias `input`.
  ///   - historyRows: H, the rows `history` holds, at least K − 1; nil means K.
  public static func causalDepthwiseConv1d(
    _ input: UnsafePointer<Float>, rows: Int, channels: Int, inputStride: Int,
    history: UnsafeMutablePointer<Float>, kernelSize: Int,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, applySiLU: Bool,
    into output: UnsafeMutablePointer<Float>, outputStride: Int, historyRows: Int? = nil
  ) {
    let k = kernelSize
    let h = historyRows ?? k
    precondition(h >= k - 1, "a kernel of \(k) taps needs at least \(k - 1) history rows, not \(h)")
    for t in 0..<rows {
      let dst = output + t * outputStride
      // Row of input s (s may be negative: then it comes from the history).
      func row(_ s: Int) -> UnsafePointer<Float> {
        s >= 0 ? input + s * inputStride : UnsafePointer(history + (h + s) * channels)
      }
      var c = 0
      while c + 8 <= channels {
        var acc = bias.map { load8($0 + c) } ?? SIMD8<Float>()
        for w in 0..<k {
          acc += load8(weight + w * channels + c) * load8(row(t - (k - 1) + w) + c)
        }
        store8(applySiLU ? silu(acc) : acc, dst + c)
        c += 8
      }
      while c < channels {
        var acc = bias?[c] ?? 0
        for w in 0..<k {
          acc += weight[w * channels + c] * row(t - (k - 1) + w)[c]
        }
        dst[c] = applySiLU ? silu(acc) : acc
        c += 1
      }
    }
    // Slide the history: keep its newest H − rows entries, then append the newest inputs.
    let kept = max(h - rows, 0)
    if kept > 0 {
      memmove(history, history + (h - kept) * channels, kept * channels * MemoryLayout<Float>.stride)
    }
    for j in kept..<h {
      let s = rows - (h - j)  // input row that lands in history slot j
      (history + j * channels).update(from: input + s * inputStride, count: channels)
    }
  }
}
