import Dispatch
import Foundation
import ZooCore

// The recurrent cores of Mamba-1 and Mamba-2. Both run the exact recurrence token by
// token (the official CPU fallbacks do the same for Mamba-1; Mamba-2's chunked SSD form
// is algebraically the same recurrence), with the state in the caller's buffer, so one
// kernel serves prefill (many rows) and decode (one row).

/// Work large enough to be worth splitting across the two cores (rows × channels × N).
/// A one-token step is never split: DispatchQueue.concurrentPerform allocates, and the
/// decode path must not.
private let parallelWorkThreshold = 1 << 15

/// True when a scan over `rows` tokens with `work` state updates should use two threads.
private func splitsAcrossThreads(rows: Int, work: Int) -> Bool {
  rows > 1 && work >= parallelWorkThreshold
}

/// Mamba-1 selective scan over `rows` tokens (transformers modeling_mamba.py,
/// `mamba_selective_scan` and `mamba_selective_state_update`), fused with Δ's softplus,
/// the D skip and the SiLU(z) gate. Per channel c and state index n:
///
///     Δ[t,c]   = softplus(dtRaw[t,c] + dtBias[c])
///     h[n,c]  ← exp(Δ[t,c]·A[n,c]) · h[n,c] + Δ[t,c] · x[t,c] · B[t,n]
///     y[t,c]   = (Σ_n C[t,n] · h[n,c] + D[c] · x[t,c]) · SiLU(z[t,c])
///
/// The state is stored n-major, [N, channels], so eight neighbouring channels form one
/// SIMD vector and the loop over n needs no horizontal sums.
struct Mamba1Scan: @unchecked Sendable {
  var rows: Int
  var channels: Int
  var stateSize: Int
  /// Conv output x' [rows, channels].
  var x: UnsafePointer<Float>
  /// dt_proj output before its bias [rows, channels].
  var dtRaw: UnsafePointer<Float>
  /// dt_proj.bias [channels].
  var dtBias: UnsafePointer<Float>
  /// Row t holds B[t, 0..<N] at `bc + t·bcStride` and C[t, 0..<N] right after it.
  var bc: UnsafePointer<Float>
  var bcStride: Int
  /// Gate z [rows, channels] with row stride `zStride`.
  var z: UnsafePointer<Float>
  var zStride: Int
  /// A·log2(e) = −exp(A_log)·log2(e), transposed to [N, channels], so exp(Δ·A) is
  /// 2^(Δ·A·log2 e).
  var negALog2e: UnsafePointer<Float>
  /// D [channels].
  var skip: UnsafePointer<Float>
  /// h [N, channels], updated in place.
  var state: UnsafeMutablePointer<Float>
  /// Output y [rows, channels].
  var y: UnsafeMutablePointer<Float>

  /// Runs the scan over all channels, on two threads when the chunk is large.
  func run() {
    let vectorBlocks = channels / 8
    guard splitsAcrossThreads(rows: rows, work: rows * channels * stateSize), vectorBlocks >= 2 else {
      run(channels: 0..<channels)
      return
    }
    // Channels are independent: split them (at a multiple of 8) between two threads.
    let split = (vectorBlocks + 1) / 2 * 8
    DispatchQueue.concurrentPerform(iterations: 2) { part in
      run(channels: part == 0 ? 0..<split : split..<channels)
    }
  }

  /// Scans the channels in `range`; its lower bound is a multiple of 8.
  func run(channels range: Range<Int>) {
    var c = range.lowerBound
    while c + 8 <= range.upperBound {
      scanEight(at: c)
      c += 8
    }
    while c < range.upperBound {
      scanScalar(at: c)
      c += 1
    }
  }

  /// Channels c..<c+8 as one SIMD vector, over all rows.
  @inline(__always)
  private func scanEight(at c: Int) {
    let n = stateSize
    let bias = Kernels.load8(dtBias + c)
    let d = Kernels.load8(skip + c)
    var xRow = x + c
    var dtRow = dtRaw + c
    var zRow = z + c
    var yRow = y + c
    var b = bc
    for _ in 0..<rows {
      let dt = Kernels.softplus(Kernels.load8(dtRow) + bias)
      let xv = Kernels.load8(xRow)
      let dtx = dt * xv
      var acc = SIMD8<Float>()
      var h = state + c
      var a = negALog2e + c
      for i in 0..<n {
        // Δ > 0 and A < 0, so the exponent is never positive.
        let decay = Kernels.exp2NonPositive(dt * Kernels.load8(a))
        let updated = decay * Kernels.load8(h) + dtx * b[i]
        Kernels.store8(updated, h)
        acc += updated * b[n + i]
        h += channels
        a += channels
      }
      Kernels.store8((acc + d * xv) * Kernels.silu(Kernels.load8(zRow)), yRow)
      xRow += channels
      dtRow += channels
      zRow += zStride
      yRow += channels
      b += bcStride
    }
  }

  /// One channel, for the tail when the channel count is not a multiple of 8.
  private func scanScalar(at c: Int) {
    let n = stateSize
    for t in 0..<rows {
      let dt = Kernels.softplus(dtRaw[t * channels + c] + dtBias[c])
      let xv = x[t * channels + c]
      let b = bc + t * bcStride
      var acc: Float = 0
      for i in 0..<n {
        let h = state + i * channels + c
        h.pointee = exp2f(dt * negALog2e[i * channels + c]) * h.pointee + dt * xv * b[i]
        acc += h.pointee * b[n + i]
      }
      y[t * channels + c] = (acc + skip[c] * xv) * Kernels.silu(z[t * zStride + c])
    }
  }
}

/// Mamba-2 (SSD) recurrence over `rows` tokens (transformers modeling_mamba2.py,
/// `mamba2_selective_state_update`; equal to its chunked `mamba2_chunk_scan`). Head h
/// uses group g = h / (H / G) of B and C; with a = exp(Δ[t,h] · A[h]):
///
///     S[h,p,n] ← a · S[h,p,n] + Δ[t,h] · x[t,h,p] · B[t,g,n]
///     y[t,h,p] = Σ_n C[t,g,n] · S[h,p,n] + D[h] · x[t,h,p]
///
/// The state layout is Hugging Face's, [H, P, N]; vectors run along n.
struct Mamba2Scan: @unchecked Sendable {
  var rows: Int
  var heads: Int
  var headDim: Int
  var stateSize: Int
  var groups: Int
  /// x[t, h·P + p] at `x + t·xStride + h·P + p`.
  var x: UnsafePointer<Float>
  var xStride: Int
  /// B[t, g, n] at `b + t·bcStride + g·N + n`; C likewise from `c`.
  var b: UnsafePointer<Float>
  var c: UnsafePointer<Float>
  var bcStride: Int
  /// Δ after softplus and clamping [rows, heads].
  var dt: UnsafePointer<Float>
  /// exp(Δ · A) [rows, heads].
  var decay: UnsafePointer<Float>
  /// D [heads].
  var skip: UnsafePointer<Float>
  /// S [H, P, N], updated in place.
  var state: UnsafeMutablePointer<Float>
  /// Output y [rows, H·P].
  var y: UnsafeMutablePointer<Float>

  /// Runs the scan over all heads, on two threads when the chunk is large.
  func run() {
    guard splitsAcrossThreads(rows: rows, work: rows * heads * headDim * stateSize), heads >= 2 else {
      run(heads: 0..<heads)
      return
    }
    // Heads are independent: give each thread half of them.
    let split = (heads + 1) / 2
    DispatchQueue.concurrentPerform(iterations: 2) { part in
      run(heads: part == 0 ? 0..<split : split..<heads)
    }
  }

  /// Scans the heads in `range` over all rows.
  func run(heads range: Range<Int>) {
    let n = stateSize
    let p = headDim
    let inner = heads * headDim
    let headsPerGroup = heads / groups
    for h in range {
      let g = h / headsPerGroup
      for t in 0..<rows {
        let dtv = dt[t * heads + h]
        let a = decay[t * heads + h]
        let av = SIMD8<Float>(repeating: a)
        let bRow = b + t * bcStride + g * n
        let cRow = c + t * bcStride + g * n
        for j in 0..<p {
          let xv = x[t * xStride + h * p + j]
          let coefficient = dtv * xv
          let s = state + (h * p + j) * n
          var acc = SIMD8<Float>()
          var i = 0
          while i + 8 <= n {
            let updated = av * Kernels.load8(s + i) + coefficient * Kernels.load8(bRow + i)
            Kernels.store8(updated, s + i)
            acc += updated * Kernels.load8(cRow + i)
            i += 8
          }
          var total = acc.sum()
          while i < n {
            s[i] = a * s[i] + coefficient * bRow[i]
            total += s[i] * cRow[i]
            i += 1
          }
          y[t * inner + h * p + j] = total + skip[h] * xv
        }
      }
    }
  }
}
