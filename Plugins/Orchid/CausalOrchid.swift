import Foundation
import ZooCore
import ZooPluginKit

// zoo's causal Orchid, for generation. The paper leaves causal models as future work and
// the official code has none (its `causal` flag does not make the operator causal); this
// variant changes exactly what makes the official operator see the future:
//
//   1. the global convolutions are linear (zero-padded), not circular;
//   2. the conditioning time conv pads on the left (the short conv already does);
//   3. the kernel for position t is conditioned on the prefix 0...t only.
//
// With N = 2·l_max and F = l_max + 1 bins, position t (t < l_max) computes
//
//     Z_t = rfft(z[0...t] zero-padded, N)/N,  P_t = |Z_t|²,  ĥ_t = complex(LN(Conv1d_f(P_t)))
//     h_t = irfft(ĥ_t, N, norm='forward')[:l_max]                  (a time-domain kernel)
//     a_t = Σ_{s≤t} (k[t−s] + h_t[t−s]) ⊙ w_s / l_max + d ⊙ w_t
//     y_t = x0_t ⊙ a_t + Σ_{s≤t} k_res[t−s] ⊙ u_s / l_max + d_res ⊙ u_t
//
// which is the official time-domain conditioning path (`causal=True`: a 2L transform and
// kernel h added to k) with its length fixed at l_max, so that every prefix sees the same
// frequency grid. At t = l_max − 1 with symmetric time padding it is the official
// `causal=True` operator's last output (the circular convolution does not wrap there);
// the parity tests check exactly that against the fixture.
//
// Since h_t enters only through a_t, a_t never needs h_t in time: with the prefix DFTs
// W_t[f] = Σ_{s≤t} w_s e^{−2πi f s/N} (and U_t, Z_t alike) and c_f = 1 at f = 0 and
// f = l_max, 2 between,
//
//     Σ_{s≤t} h_t[t−s] w_s = Σ_f c_f Re(ĥ_t[f] · e^{2πi f t/N} · W_t[f])
//
// and the same with K̂ = rfft(k, N)/N for the static kernels. Each new token adds one term
// to Z, W and U, so the state is fixed-size and a token costs O(l_max·D), whatever t is.

/// The causal variant's transforms of the static kernels and its twiddle table.
struct CausalSpectra: @unchecked Sendable {
  /// N = 2·l_max; bins F = l_max + 1.
  let n: Int
  var bins: Int { n / 2 + 1 }
  /// cos and sin of 2πj/N, j < N.
  let cosines, sines: [Float]
  /// rfft(k, N)/N and rfft(k_res, N)/N, [F, 2, D]: per bin D real parts, then D imaginary.
  let kernel: OwnedFloats
  let residualKernel: OwnedFloats?

  init(config: OrchidOperatorConfig, kernel k: ImplicitFilter, residualKernel kRes: ImplicitFilter?) {
    n = 2 * config.lMax
    let n = n
    cosines = (0..<n).map { Float(cos(2 * Double.pi * Double($0) / Double(n))) }
    sines = (0..<n).map { Float(sin(2 * Double.pi * Double($0) / Double(n))) }
    let d = config.dModel
    let fft = RealFFT.plan(n: n, channels: d)
    func spectrum(_ filter: ImplicitFilter) -> OwnedFloats {
      let ws = FFTWorkspace(counts: [n * d, 2 * fft.bins * d])
      let time = ws.take(n * d)
      let out = ws.take(2 * fft.bins * d)
      staticTaps(filter, rows: n, into: time)
      fft.forward(time, into: out)
      // Split rows [re D | im D] per bin, as the state's DFTs.
      let result = OwnedFloats(count: 2 * fft.bins * d) { _ in }
      for f in 0..<fft.bins {
        for c in 0..<d {
          result.pointer[2 * f * d + c] = out[2 * (f * d + c)] / Float(n)
          result.pointer[2 * f * d + d + c] = out[2 * (f * d + c) + 1] / Float(n)
        }
      }
      return result
    }
    kernel = spectrum(k)
    residualKernel = kRes.map(spectrum)
  }
}

extension OrchidOperator {
  /// Floats of one sequence's causal state: the short conv's and the conditioning conv's
  /// last inputs, then the prefix DFTs Z, W, U [F, 2, D] each (per bin D real parts, then
  /// D imaginary: the channel loops run over contiguous floats).
  public var causalStateCount: Int {
    config.shortFilterOrder * 3 * d + config.convKernel.convFilterSize * d + 3 * 2 * causalSpectra.bins * d
  }

  /// Scratch floats `forwardCausal` needs for `rows` rows.
  public func causalScratchCount(rows: Int) -> Int {
    rows * (3 * d + 3 * d + d + d + d) + causalSpectra.bins * 5 * d + 2 * d
  }

  /// Runs zoo's causal variant over `rows` new tokens of one sequence at positions
  /// `position ..< position + rows` (`position + rows` ≤ l_max), continuing `state`
  /// (`causalStateCount` floats, zero for an empty sequence). `input` and `output` are
  /// [rows, D]; `scratch` holds `causalScratchCount(rows:)` floats, or is nil to allocate.
  public func forwardCausal(
    _ input: UnsafePointer<Float>, rows: Int, position: Int, state: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>? = nil, into output: UnsafeMutablePointer<Float>
  ) {
    forwardCausal(input, rows: rows, position: position, state: state, scratch: scratch, into: output,
                  symmetricConditioning: false)
  }

  /// `symmetricConditioning` pads the conditioning time conv on both sides, as the
  /// official code does; that reads one token ahead, so it exists only for the check
  /// against the official `causal=True` output over a whole l_max window in one call.
  func forwardCausal(
    _ input: UnsafePointer<Float>, rows: Int, position: Int, state: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>?, into output: UnsafeMutablePointer<Float>, symmetricConditioning: Bool
  ) {
    precondition(rows > 0 && position >= 0 && position + rows <= config.lMax)
    let d = self.d
    let spectra = causalSpectra
    let (n, bins) = (spectra.n, spectra.bins)
    let owned = scratch == nil ? UnsafeMutablePointer<Float>.allocate(capacity: causalScratchCount(rows: rows)) : nil
    defer { owned?.deallocate() }
    let p = (scratch ?? owned)!
    let c = p + rows * 3 * d
    let z = c + rows * 3 * d
    let w = z + rows * d
    let y = w + rows * d
    let power = y + rows * d
    let interleaved = power + bins * d
    let kernelS = interleaved + 2 * bins * d
    let sumA = kernelS + 2 * bins * d
    let sumR = sumA + d

    let shortHistory = state
    let conditioningHistory = shortHistory + config.shortFilterOrder * 3 * d
    let zPrefix = conditioningHistory + config.convKernel.convFilterSize * d
    let wPrefix = zPrefix + 2 * bins * d
    let uPrefix = wPrefix + 2 * bins * d

    project(input, rows: rows, into: p)
    shortConvolution(p, rows: rows, history: shortHistory, into: c)
    if symmetricConditioning {
      conditioning.timeFeatures(p + 2 * d, rows: rows, inputStride: 3 * d, into: z)
    } else {
      Kernels.causalDepthwiseConv1d(
        p + 2 * d, rows: rows, channels: d, inputStride: 3 * d, history: conditioningHistory,
        kernelSize: conditioning.taps, weight: conditioning.timeConv.pointer,
        bias: conditioning.timeConvBias?.pointer, applySiLU: false, into: z, outputStride: d)
      conditioning.normalizeTime(z, rows: rows)
    }
    for r in 0..<rows {
      for j in 0..<d { w[r * d + j] = c[r * 3 * d + d + j] * c[r * 3 * d + 2 * d + j] }
    }

    let powerScale = 1 / Float(n * n)
    let outputScale = 1 / Float(config.lMax)
    let skip = kernel.skip.pointer
    let residualSkip = residualKernel?.skip.pointer
    for r in 0..<rows {
      let t = position + r
      let (zt, wt, ut) = (z + r * d, w + r * d, input + r * d)
      // Add token t to the prefix DFTs (twiddle e^{−2πi f t/N}), then P_t = |Z_t/N|².
      var j = 0
      for f in 0..<bins {
        let (cs, sn) = (spectra.cosines[j], spectra.sines[j])
        let (zr, wr, ur) = (zPrefix + 2 * f * d, wPrefix + 2 * f * d, uPrefix + 2 * f * d)
        let (zi, wi, ui) = (zr + d, wr + d, ur + d)
        let pf = power + f * d
        for ch in 0..<d {
          zr[ch] += zt[ch] * cs
          zi[ch] -= zt[ch] * sn
          wr[ch] += wt[ch] * cs
          wi[ch] -= wt[ch] * sn
          ur[ch] += ut[ch] * cs
          ui[ch] -= ut[ch] * sn
          pf[ch] = (zr[ch] * zr[ch] + zi[ch] * zi[ch]) * powerScale
        }
        j = (j + t) % n
      }
      conditioning.frequencyKernel(power, bins: bins, into: interleaved)
      // S = ĥ_t + K̂, split into real and imaginary rows like the prefix DFTs.
      for f in 0..<bins {
        let (h, k, sf) = (interleaved + 2 * f * d, spectra.kernel.pointer + 2 * f * d, kernelS + 2 * f * d)
        for ch in 0..<d {
          sf[ch] = h[2 * ch] + k[ch]
          sf[d + ch] = h[2 * ch + 1] + k[d + ch]
        }
      }
      // Σ_f c_f Re(S[f] · e^{2πi f t/N} · W_t[f]), and the same with K̂_res and U_t.
      sumA.update(repeating: 0, count: d)
      sumR.update(repeating: 0, count: d)
      j = 0
      for f in 0..<bins {
        let weight: Float = f == 0 || f == bins - 1 ? 1 : 2
        let (cs, sn) = (spectra.cosines[j] * weight, spectra.sines[j] * weight)
        accumulateRotatedProduct(kernelS + 2 * f * d, wPrefix + 2 * f * d, cs: cs, sn: sn, channels: d, into: sumA)
        if let residual = spectra.residualKernel?.pointer {
          accumulateRotatedProduct(residual + 2 * f * d, uPrefix + 2 * f * d, cs: cs, sn: sn, channels: d, into: sumR)
        }
        j = (j + t) % n
      }
      let yt = y + r * d
      let x0 = c + r * 3 * d
      for ch in 0..<d {
        yt[ch] = x0[ch] * (sumA[ch] * outputScale + skip[ch] * wt[ch])
        if let residualSkip { yt[ch] += sumR[ch] * outputScale + residualSkip[ch] * ut[ch] }
      }
    }
    BLAS.linear(y, rows: rows, inFeatures: d, weight: outLinear.pointer, outFeatures: d, into: output)
    addRowBias(outLinearBias.pointer, to: output, rows: rows, width: d)
  }
}

/// acc[c] += Re(S[c] · (cs + i·sn) · V[c]) for split rows S, V ([re D | im D]).
@inline(__always)
private func accumulateRotatedProduct(
  _ s: UnsafePointer<Float>, _ v: UnsafePointer<Float>, cs: Float, sn: Float, channels d: Int,
  into acc: UnsafeMutablePointer<Float>
) {
  for ch in 0..<d {
    let re = cs * v[ch] - sn * v[d + ch]
    let im = cs * v[d + ch] + sn * v[ch]
    acc[ch] += s[ch] * re - s[d + ch] * im
  }
}
