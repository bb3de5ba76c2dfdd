import Foundation

/// Rotary position embedding in the rotate-half ("NeoX") layout, as Hugging Face's
/// `Qwen3RotaryEmbedding` + `apply_rotary_pos_emb` (modeling_qwen3.py, default rope type):
/// for a head vector x of width d at position p, with θᵢ = base^(−2i/d) and i < d/2,
///
///     x'[i]       = x[i]·cos(p·θᵢ) − x[i + d/2]·sin(p·θᵢ)
///     x'[i + d/2] = x[i + d/2]·cos(p·θᵢ) + x[i]·sin(p·θᵢ)
///
/// (q·cos + rotate_half(q)·sin with cos/sin of cat(freqs, freqs)). Angles are formed in
/// float32 as the reference does (inv_freq · position), then cos/sin of that float.
struct RotaryEmbedding: Sendable {
  let headDim: Int
  /// θᵢ for i < d/2.
  let inverseFrequencies: [Float]

  init(headDim: Int, base: Float) {
    self.headDim = headDim
    inverseFrequencies = (0..<headDim / 2).map { 1 / powf(base, Float(2 * $0) / Float(headDim)) }
  }

  /// Floats of one token's table: cos then sin, d/2 each.
  var tableWidth: Int { headDim }

  /// Writes each position's cos and sin (d/2 each) as one row of `table`.
  func fillTable(positions: [Int], into table: UnsafeMutablePointer<Float>) {
    let half = headDim / 2
    for (row, p) in positions.enumerated() {
      let cosines = table + row * headDim
      let sines = cosines + half
      for i in 0..<half {
        let angle = Float(p) * inverseFrequencies[i]
        cosines[i] = cosf(angle)
        sines[i] = sinf(angle)
      }
    }
  }

  /// Rotates `heads` head vectors of one token in place, with that token's table row.
  /// Heads start `headStride` floats apart (default `headDim`); a wider stride rotates
  /// only the first `headDim` floats of each head (partial rotary, as ILM's rotary_emb_dim).
  func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headStride: Int? = nil, table: UnsafePointer<Float>) {
    let half = headDim / 2
    let cosines = table
    let sines = table + half
    for h in 0..<heads {
      let lo = x + h * (headStride ?? headDim)
      let hi = lo + half
      for i in 0..<half {
        let a = lo[i]
        let b = hi[i]
        lo[i] = a * cosines[i] - b * sines[i]
        hi[i] = b * cosines[i] + a * sines[i]
      }
    }
  }
}
