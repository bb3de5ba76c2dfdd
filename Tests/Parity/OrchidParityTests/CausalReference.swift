import Foundation

@testable import Orchid

/// zoo's causal Orchid written straight from its definition (CausalOrchid.swift, README)
/// in float64 and in the time domain: explicit DFT sums for the prefix spectra, the kernel
/// h_t materialised tap by tap, direct linear convolutions. It shares no code with the
/// plugin, which evaluates the same sums through running DFTs in float32.
struct CausalOrchidReference {
  let d, lMax, shortTaps, conditioningTaps: Int
  let weight: (String) -> [Double]

  init(config: OrchidOperatorConfig, prefix: String = "", weight: @escaping (String) -> [Float]) {
    d = config.dModel
    lMax = config.lMax
    shortTaps = config.shortFilterOrder
    conditioningTaps = config.convKernel.convFilterSize
    self.weight = { weight(prefix + $0).map(Double.init) }
  }

  /// y = x Wᵀ + b for rows x, W [out, in].
  static func linear(_ x: [[Double]], _ w: [Double], _ b: [Double]?, outputs: Int) -> [[Double]] {
    x.map { row -> [Double] in
      (0..<outputs).map { o -> Double in
        var sum = b?[o] ?? 0
        for i in row.indices { sum += w[o * row.count + i] * row[i] }
        return sum
      }
    }
  }

  static func layerNorm(_ x: [Double], _ w: [Double], _ b: [Double]) -> [Double] {
    let mean = x.reduce(0, +) / Double(x.count)
    let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count)
    return x.indices.map { (x[$0] - mean) / (variance + 1e-5).squareRoot() * w[$0] + b[$0] }
  }

  /// The static kernel k[τ][c], τ < l_max, of `fixed_conv` or `fixed_conv_res`.
  func staticKernel(_ name: String) -> [[Double]] {
    let z = weight(name + ".pos_emb.z")
    let t = weight(name + ".pos_emb.t")
    let deltas = weight(name + ".modulation.deltas")
    let embDim = z.count / lMax
    var h = (0..<lMax).map { Array(z[($0 * embDim)..<(($0 + 1) * embDim)]) }
    for index in [0, 2, 4] {
      let b = weight(name + ".implicit_filter.\(index).bias")
      let freq = weight(name + ".implicit_filter.\(index + 1).freq")
      h = Self.linear(h, weight(name + ".implicit_filter.\(index).weight"), b, outputs: b.count)
        .map { row in row.indices.map { sin(freq[$0] * row[$0]) } }
    }
    let k = Self.linear(h, weight(name + ".implicit_filter.6.weight"), nil, outputs: d)
    return k.indices.map { r in (0..<d).map { c in k[r][c] * exp(-t[r] * abs(deltas[c])) } }
  }

  /// Depthwise causal conv: out[t][j] = b[j] + Σ_m W[j, m] · x[t − K + 1 + m][j].
  static func causalConv(_ x: [[Double]], _ w: [Double], _ b: [Double], taps: Int) -> [[Double]] {
    x.indices.map { t in
      x[t].indices.map { j in
        (0..<taps).reduce(b[j]) { acc, m in
          let s = t - taps + 1 + m
          return s < 0 ? acc : acc + w[j * taps + m] * x[s][j]
        }
      }
    }
  }

  func run(_ u: [[Double]]) -> [[Double]] {
    let (d, n, bins) = (d, 2 * lMax, lMax + 1)
    let p = Self.linear(u, weight("in_linear.weight"), weight("in_linear.bias"), outputs: 3 * d)
    let c = Self.causalConv(p, weight("conv1d_short.weight"), weight("conv1d_short.bias"), taps: shortTaps)
    let cond = "conv_kernel_nn.nn_model"
    let z = Self.causalConv(
      p.map { Array($0[(2 * d)...]) }, weight(cond + ".conv1d_ls.0.weight"), weight(cond + ".conv1d_ls.0.bias"),
      taps: conditioningTaps
    ).map { Self.layerNorm($0, weight(cond + ".norm_ls.0.norm_conv_kernel.weight"), weight(cond + ".norm_ls.0.norm_conv_kernel.bias")) }
    let w = c.map { row in (0..<d).map { row[d + $0] * row[2 * d + $0] } }
    let k = staticKernel("fixed_conv"), kRes = staticKernel("fixed_conv_res")
    let skip = weight("fixed_conv.bias"), skipRes = weight("fixed_conv_res.bias")
    let f2 = "conv_kernel_nn.nn_model2"
    let (w2, b2) = (weight(f2 + ".conv1d_ls.0.weight"), weight(f2 + ".conv1d_ls.0.bias"))
    let (n2, nb2) = (weight(f2 + ".norm_ls.0.norm_conv_kernel.weight"), weight(f2 + ".norm_ls.0.norm_conv_kernel.bias"))
    let pad = (conditioningTaps - 1) / 2
    var y = [[Double]]()
    for t in u.indices {
      // Power spectrum of the prefix z[0...t], zero-padded to N.
      let power = (0..<bins).map { f in
        (0..<d).map { ch in
          var (re, im) = (0.0, 0.0)
          for s in 0...t {
            let angle = -2 * Double.pi * Double(f * s) / Double(n)
            re += z[s][ch] * cos(angle)
            im += z[s][ch] * sin(angle)
          }
          return (re * re + im * im) / Double(n * n)
        }
      }
      // H = LN(Conv1d_f(P)), symmetric zero padding over the bins; ĥ = (H[2c], H[2c+1]).
      let hHat = (0..<bins).map { f in
        Self.layerNorm(
          (0..<(2 * d)).map { j in
            (0..<conditioningTaps).reduce(b2[j]) { acc, m in
              let g = f - pad + m
              return g < 0 || g >= bins ? acc : acc + w2[j * conditioningTaps + m] * power[g][j / 2]
            }
          }, n2, nb2)
      }
      // h_t[τ] = irfft(ĥ, N, norm='forward')[τ] (imaginary parts of bins 0 and N/2 dropped).
      let h = (0...t).map { tau in
        (0..<d).map { ch in
          (0..<bins).reduce(0.0) { acc, f in
            let angle = 2 * Double.pi * Double(f * tau) / Double(n)
            let term = hHat[f][2 * ch] * cos(angle) - (f == 0 || f == bins - 1 ? 0 : hHat[f][2 * ch + 1] * sin(angle))
            return acc + (f == 0 || f == bins - 1 ? 1 : 2) * term
          }
        }
      }
      y.append(
        (0..<d).map { ch in
          var a = 0.0, r = 0.0
          for s in 0...t {
            a += (k[t - s][ch] + h[t - s][ch]) * w[s][ch]
            r += kRes[t - s][ch] * u[s][ch]
          }
          return c[t][ch] * (a / Double(lMax) + skip[ch] * w[t][ch]) + r / Double(lMax) + skipRes[ch] * u[t][ch]
        })
    }
    return Self.linear(y, weight("out_linear.weight"), weight("out_linear.bias"), outputs: d)
  }
}

/// Rows of a flat [rows, width] array.
func rows(_ x: [Float], width: Int) -> [[Double]] {
  stride(from: 0, to: x.count, by: width).map { x[$0..<($0 + width)].map(Double.init) }
}
