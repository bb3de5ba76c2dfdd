import COpenBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Kernels that attention and encoder layers need beside Kernels.swift: sigmoid, erf and
// exact GELU, softmax, LayerNorm, row-broadcast bias, L2 normalisation, and a GEMV with
// explicit leading dimension. All float32 and row-major; nothing here allocates.

extension Kernels {
  // MARK: Activations

  /// σ(x) = 1 / (1 + e^−x) per lane.
  @inlinable @inline(__always)
  public static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    1 / (1 + exp(-x))
  }

  /// erf(x) per lane, Abramowitz & Stegun 7.1.26 (Hastings):
  /// erf(x) = 1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^−x², t = 1/(1 + p·x) for x ≥ 0,
  /// odd for x < 0; absolute error ≤ 1.5e-7 (plus float32 rounding).
  @inlinable @inline(__always)
  public static func erf(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let e = 1 - erfcTail(magnitude(x))
    return e.replacing(with: -e, where: x .< 0)
  }

  /// |x| per lane (the sign bit cleared).
  @inlinable @inline(__always)
  static func magnitude(_ x: SIMD8<Float>) -> SIMD8<Float> {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
  }

  /// erfc(a) for a ≥ 0 by A&S 7.1.26: the polynomial in t times e^−a².
  @inlinable @inline(__always)
  static func erfcTail(_ a: SIMD8<Float>) -> SIMD8<Float> {
    let t = 1 / (1 + 0.327_591_1 * a)
    var p: SIMD8<Float> = SIMD8(repeating: 1.061_405_429)
    p = p * t - 1.453_152_027
    p = p * t + 1.421_413_741
    p = p * t - 0.284_496_736
    p = p * t + 0.254_829_592
    return p * t * exp(-(a * a))
  }

  /// Exact (erf) GELU per lane, as torch.nn.functional.gelu's default:
  /// GELU(x) = x·Φ(x) = x·½·(1 + erf(x/√2)). For x < 0, Φ(x) = ½·erfc(|x|/√2) is taken
  /// from the erfc tail directly, so large negative inputs keep their small values.
  @inlinable @inline(__always)
  public static func gelu(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let half = 0.5 * erfcTail(magnitude(x) * 0.707_106_781_186_547_5)
    let phi = half.replacing(with: 1 - half, where: x .>= 0)
    return x * phi
  }

  /// Scalar exact GELU, x·½·(1 + erf(x/√2)) with libm's erff.
  @inlinable
  public static func gelu(_ x: Float) -> Float {
    0.5 * x * (1 + erff(x * 0.707_106_781_186_547_5))
  }

  /// In-place exact GELU over `count` floats.
  public static func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
      store8(gelu(load8(x + i)), x + i)
      i += 8
    }
    while i < count {
      x[i] = gelu(x[i])
      i += 1
    }
  }

  /// In-place `x ⊙ σ(gate)` over `count` floats (attention-output gates).
  public static func multiplySigmoid(_ x: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
      store8(load8(x + i) * sigmoid(load8(gate + i)), x + i)
      i += 8
    }
    while i < count {
      x[i] *= 1 / (1 + expf(-gate[i]))
      i += 1
    }
  }

  /// `a[i] = SiLU(a[i]) · b[i]` over `count` floats (SwiGLU).
  public static func siluMultiply(_ a: UnsafeMutablePointer<Float>, by b: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
      store8(silu(load8(a + i)) * load8(b + i), a + i)
      i += 8
    }
    while i < count {
      a[i] = silu(a[i]) * b[i]
      i += 1
    }
  }

  // MARK: Softmax

  /// In-place softmax over `count` floats: e^(x − max) / Σ e^(x − max), in float32.
  public static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    var maxLanes = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + 8 <= count {
      maxLanes = pointwiseMax(maxLanes, load8(x + i))
      i += 8
    }
    var m = maxLanes.max()
    while i < count {
      m = Swift.max(m, x[i])
      i += 1
    }
    var sumLanes = SIMD8<Float>()
    i = 0
    while i + 8 <= count {
      let e = exp(load8(x + i) - m)
      store8(e, x + i)
      sumLanes += e
      i += 8
    }
    var sum = sumLanes.sum()
    while i < count {
      let e = expf(x[i] - m)
      x[i] = e
      sum += e
      i += 1
    }
    scale(x, count: count, by: 1 / sum)
  }

  /// In-place `x *= factor` over `count` floats.
  public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    var i = 0
    while i + 8 <= count {
      store8(load8(x + i) * factor, x + i)
      i += 8
    }
    while i < count {
      x[i] *= factor
      i += 1
    }
  }

  // MARK: Rows

  /// LayerNorm of each row, as torch.nn.functional.layer_norm (biased variance, float32):
  /// `y[r, :] = (x[r, :] − mean) / sqrt(var + epsilon) ⊙ weight + bias`. `y` may equal `x`.
  public static func layerNorm(
    _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    epsilon: Float, into y: UnsafeMutablePointer<Float>
  ) {
    let n = Float(width)
    for r in 0..<rows {
      let src = x + r * width
      let dst = y + r * width
      var acc = SIMD8<Float>()
      var i = 0
      while i + 8 <= width {
        acc += load8(src + i)
        i += 8
      }
      var total = acc.sum()
      while i < width {
        total += src[i]
        i += 1
      }
      let mean = total / n
      // Two passes, as the reference: the variance of the centred values.
      var sq = SIMD8<Float>()
      i = 0
      while i + 8 <= width {
        let d = load8(src + i) - mean
        sq += d * d
        i += 8
      }
      var squares = sq.sum()
      while i < width {
        let d = src[i] - mean
        squares += d * d
        i += 1
      }
      let inv = 1 / (squares / n + epsilon).squareRoot()
      i = 0
      while i + 8 <= width {
        var v = (load8(src + i) - mean) * inv * load8(weight + i)
        if let bias { v += load8(bias + i) }
        store8(v, dst + i)
        i += 8
      }
      while i < width {
        dst[i] = (src[i] - mean) * inv * weight[i] + (bias?[i] ?? 0)
        i += 1
      }
    }
  }

  /// Adds `bias` [width] to each of `rows` rows of `x` (row stride `stride`, default width).
  public static func addBias(
    _ bias: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int? = nil
  ) {
    let ld = stride ?? width
    for r in 0..<rows {
      let row = x + r * ld
      var i = 0
      while i + 8 <= width {
        store8(load8(row + i) + load8(bias + i), row + i)
        i += 8
      }
      while i < width {
        row[i] += bias[i]
        i += 1
      }
    }
  }

  /// Divides `x` by max(‖x‖₂, 1e-12), as torch.nn.functional.normalize(p=2).
  public static func l2Normalize(_ x: UnsafeMutablePointer<Float>, count: Int) {
    scale(x, count: count, by: 1 / Swift.max(sumOfSquares(x, count: count).squareRoot(), 1e-12))
  }
}

extension BLAS {
  /// `y = alpha · op(A) · x + beta · y` for row-major `A[m, n]` with leading dimension
  /// `lda`; op(A) = Aᵀ when `transpose` (then x has m entries and y has n).
  @inlinable
  public static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float = 0, _ y: UnsafeMutablePointer<Float>
  ) {
    useThreads(multiplyAdds: m * n)
    cblas_sgemv(
      CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
  }
}
