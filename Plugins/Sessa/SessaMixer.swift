import Foundation
import ZooCore
import ZooPluginKit

/// The Sessa mixer (LibratioAI/sessa @ 7218005, sessa/mixer.py `SessaMixer`; Horbatko
/// 2026, arXiv 2604.18580). For input rows ā [T, D]:
///
///     f      = out_proj(concat_h softmax_{j≤t}(q_t^h · k_j^{h'} / √d) · v_j^{h'})   forward branch:
///              q, k, v = q_proj/k_proj/v_proj(ā), interleaved-pair RoPE on q and k,
///              GQA h' = h / (H / H_kv); out_proj only when H > 1 (no bias)
///     [q_b | k_b] = proj_fb(ā)                                               one head, width D, no RoPE
///     α_{t,j} = softmax_{j<t}(q_b,t · k_b,j / √D)                             strictly causal; row 0 is 0
///     γ_t    = gamma_max · tanh(gamma_bias + ā_t · gamma_ctx)
///     s      : (I − γ ⊙ α) s = f,  i.e.  s_t = f_t + γ_t Σ_{j<t} α_{t,j} s_j
///
/// Over a cache of `start` earlier positions, the new rows' system splits into the
/// known part and a unit lower-triangular block:
///
///     (I − γα_new) s_new = f + γα_old · s_old
///
/// solved with OpenBLAS `strsm` (the official forward calls `torch.linalg.solve_triangular`
/// on the whole sequence; a one-token step is its last row). Keys, values, k_b and s of
/// the new rows are written to the cache.
final class SessaMixer: @unchecked Sendable {
  let width: Int
  let heads: Int
  let kvHeads: Int
  let headDim: Int
  let query, key, value: Linear
  /// proj_fb's two halves: rows 0..<D give q_b, rows D..<2D give k_b.
  let feedbackQuery, feedbackKey: Linear
  /// out_proj, absent when n_heads == 1 (nn.Identity in the official code).
  let output: Linear?
  /// gamma_ctx.weight [1, D].
  let gammaContext: Weight
  let gammaBias: Float
  let gammaMax: Float
  /// rope_inv_freq [d / 2], or nil without RoPE.
  let inverseFrequencies: [Float]?

  /// Reads the mixer's weights under `prefix` (e.g. "layers.0.mixer.").
  init(prefix: String, config: SessaLayerConfig, weights: Weights) throws {
    let (d, kvWidth) = (config.width, config.kvWidth)
    width = d
    heads = config.heads
    kvHeads = config.kvHeadCount
    headDim = config.headDim
    query = try Linear(weights, prefix + "q_proj", in: d, out: d, bias: true)
    key = try Linear(weights, prefix + "k_proj", in: d, out: kvWidth, bias: true)
    value = try Linear(weights, prefix + "v_proj", in: d, out: kvWidth, bias: true)
    let feedback = try Linear(weights, prefix + "proj_fb", in: d, out: 2 * d, bias: true)
    feedbackQuery = feedback.outputs(0..<d)
    feedbackKey = feedback.outputs(d..<2 * d)
    output = heads > 1 ? try Linear(weights, prefix + "out_proj", in: d, out: d, bias: false) : nil
    gammaContext = try weights.tensor(prefix + "gamma_ctx.weight", shape: [1, d])
    // `values`, not `pointer`: a converted (16-bit) weight frees its floats with the temporary.
    gammaBias = try weights.tensor(prefix + "gamma_bias", shape: []).values[0]
    gammaMax = config.gammaMax
    if !config.useForwardRoPE {
      inverseFrequencies = nil
    } else if weights.contains(prefix + "rope_inv_freq") {
      // The persistent buffer the official forward reads.
      inverseFrequencies = try weights.tensor(prefix + "rope_inv_freq", shape: [headDim / 2]).values
    } else {
      // The buffer's definition: 10000^(−2i/d).
      let hd = Double(config.headDim)
      inverseFrequencies = (0..<config.headDim / 2).map { Float(pow(10000.0, -2.0 * Double($0) / hd)) }
    }
  }

  var weightBytes: Int {
    let linears = [query, key, value, feedbackQuery, feedbackKey] + (output.map { [$0] } ?? [])
    let linearBytes = linears.reduce(0) { $0 + $1.parameterBytes }
    return linearBytes + (width + 1 + (inverseFrequencies?.count ?? 0)) * MemoryLayout<Float>.size
  }

  /// Scratch floats `forward` needs for `rows` new rows over `keys` = start + rows
  /// positions: q, q_b, γ, then what `mix` needs.
  func scratchCount(rows: Int, keys: Int) -> Int {
    rows * (2 * width + 1) + mixScratchCount(rows: rows, keys: keys)
  }

  /// Scratch floats `forwardSteps` needs for one new row of each of `sequences`
  /// sequences, the longest over `keys` positions: q, q_b, γ, k_f, v_f and k_b of every
  /// row, then what `mix` needs for one row.
  func stepScratchCount(sequences: Int, keys: Int) -> Int {
    sequences * (3 * width + 1 + 2 * kvHeads * headDim) + mixScratchCount(rows: 1, keys: keys)
  }

  /// f, the RoPE table and one score matrix.
  private func mixScratchCount(rows: Int, keys: Int) -> Int {
    rows * (width + headDim + keys)
  }

  /// Runs rows ā (row stride `lda`) at positions start..<start+rows against the cache's
  /// rows 0..<start, writes the new rows' k_f, v_f, k_b and s into the cache, and leaves
  /// s in `cache.outputs` rows start..<start+rows.
  func forward(
    _ barA: UnsafePointer<Float>, lda: Int, rows n: Int, start: Int, cache: SessaLayerCache,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let (d, kvWidth) = (width, kvHeads * headDim)
    let q = scratch
    let feedbackQueries = q + n * d
    let gamma = feedbackQueries + n * d
    key.apply(barA, ldx: lda, rows: n, into: cache.forwardKeys + start * kvWidth)
    value.apply(barA, ldx: lda, rows: n, into: cache.forwardValues + start * kvWidth)
    feedbackKey.apply(barA, ldx: lda, rows: n, into: cache.feedbackKeys + start * d)
    project(barA, lda: lda, rows: n, queries: q, feedbackQueries: feedbackQueries, gamma: gamma)
    mix(
      queries: q, feedbackQueries: feedbackQueries, gamma: gamma, rows: n, start: start, cache: cache,
      scratch: gamma + n)
  }

  /// One new row of each sequence (a batched decode step): row r of ā is sequence r's
  /// next position, `sequences[r].start`, in its own cache. The projections run over all
  /// rows at once; attention and the feedback solve per sequence, as `forward` with one
  /// row.
  func forwardSteps(
    _ barA: UnsafePointer<Float>, lda: Int, sequences: [(start: Int, cache: SessaLayerCache)],
    scratch: UnsafeMutablePointer<Float>
  ) {
    let (n, d, kvWidth) = (sequences.count, width, kvHeads * headDim)
    let q = scratch
    let feedbackQueries = q + n * d
    let gamma = feedbackQueries + n * d
    let keys = gamma + n
    let values = keys + n * kvWidth
    let feedbackKeys = values + n * kvWidth
    let mixScratch = feedbackKeys + n * d
    key.apply(barA, ldx: lda, rows: n, into: keys)
    value.apply(barA, ldx: lda, rows: n, into: values)
    feedbackKey.apply(barA, ldx: lda, rows: n, into: feedbackKeys)
    project(barA, lda: lda, rows: n, queries: q, feedbackQueries: feedbackQueries, gamma: gamma)
    for (r, (start, cache)) in sequences.enumerated() {
      (cache.forwardKeys + start * kvWidth).update(from: keys + r * kvWidth, count: kvWidth)
      (cache.forwardValues + start * kvWidth).update(from: values + r * kvWidth, count: kvWidth)
      (cache.feedbackKeys + start * d).update(from: feedbackKeys + r * d, count: d)
      mix(
        queries: q + r * d, feedbackQueries: feedbackQueries + r * d, gamma: gamma + r, rows: 1, start: start,
        cache: cache, scratch: mixScratch)
    }
  }

  /// q, q_b and γ of the rows (their keys and values go straight to a cache).
  private func project(
    _ barA: UnsafePointer<Float>, lda: Int, rows n: Int, queries q: UnsafeMutablePointer<Float>,
    feedbackQueries: UnsafeMutablePointer<Float>, gamma: UnsafeMutablePointer<Float>
  ) {
    query.apply(barA, ldx: lda, rows: n, into: q)
    feedbackQuery.apply(barA, ldx: lda, rows: n, into: feedbackQueries)
    BLAS.gemv(transpose: false, m: n, n: width, barA, lda: lda, gammaContext.pointer, gamma)
    for i in 0..<n { gamma[i] = gammaMax * tanhf(gammaBias + gamma[i]) }
  }

  /// Everything after the projections for rows of one sequence at positions
  /// start..<start+rows, whose keys, values and k_b are in the cache already: RoPE,
  /// the forward branch, and the feedback solve into `cache.outputs`.
  private func mix(
    queries q: UnsafeMutablePointer<Float>, feedbackQueries: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    rows n: Int, start: Int, cache: SessaLayerCache, scratch: UnsafeMutablePointer<Float>
  ) {
    let (d, hd, kvWidth, keys) = (width, headDim, kvHeads * headDim, start + n)
    let f = scratch
    let rope = f + n * d
    let scores = rope + n * hd

    if let inverseFrequencies {
      fillRotationTable(inverseFrequencies, start: start, rows: n, into: rope)
      rotate(q, rows: n, heads: heads, stride: d, table: rope)
      rotate(cache.forwardKeys + start * kvWidth, rows: n, heads: kvHeads, stride: kvWidth, table: rope)
    }

    // Forward branch: causal softmax attention per query head over its KV head's keys.
    let group = heads / kvHeads
    let scale = 1 / Float(hd).squareRoot()
    for h in 0..<heads {
      let kvHead = h / group
      MatMul.abT(
        m: n, n: keys, k: hd, alpha: scale, q + h * hd, lda: d, cache.forwardKeys + kvHead * hd, ldb: kvWidth,
        scores, ldc: keys)
      for i in 0..<n {
        let row = scores + i * keys
        let visible = start + i + 1
        Kernels.softmaxInPlace(row, count: visible)
        (row + visible).update(repeating: 0, count: keys - visible)
      }
      MatMul.ab(
        m: n, n: hd, k: keys, scores, lda: keys, cache.forwardValues + kvHead * hd, ldb: kvWidth, f + h * hd, ldc: d)
    }
    let s = cache.outputs + start * d
    if let output {
      output.apply(f, rows: n, into: s)
    } else {
      s.update(from: f, count: n * d)
    }

    // Feedback branch. Row i (position start + i) sees feedback keys 0..<start+i; the
    // last position's key is not read by this call.
    guard keys > 1 else { return }
    MatMul.abT(
      m: n, n: keys - 1, k: d, alpha: 1 / Float(d).squareRoot(), feedbackQueries, lda: d, cache.feedbackKeys,
      ldb: d, scores, ldc: keys)
    for i in 0..<n {
      let row = scores + i * keys
      let visible = start + i
      guard visible > 0 else { continue }  // position 0: α is all zeros, s_0 = f_0
      Kernels.softmaxInPlace(row, count: visible)
      // Scale by γ; the block of new columns holds −γα, the strictly lower part of the
      // unit lower-triangular system matrix I − γα_new.
      Kernels.scale(row, count: start, by: gamma[i])
      Kernels.scale(row + start, count: i, by: -gamma[i])
    }
    if start > 0 {
      MatMul.ab(m: n, n: d, k: start, scores, lda: keys, cache.outputs, ldb: d, beta: 1, s, ldc: d)
    }
    if n > 1 {
      BLAS.solveLowerTriangular(m: n, n: d, scores + start, lda: keys, unitDiagonal: true, s, ldb: d)
    }
  }

  /// cos θ then sin θ for θ = position · inv_freq[i], [rows, d/2] each, computed in
  /// float32 as the official code does.
  private func fillRotationTable(
    _ inverseFrequencies: [Float], start: Int, rows: Int, into table: UnsafeMutablePointer<Float>
  ) {
    let half = headDim / 2
    for r in 0..<rows {
      let position = Float(start + r)
      for i in 0..<half {
        let theta = position * inverseFrequencies[i]
        table[r * half + i] = cosf(theta)
        table[(rows + r) * half + i] = sinf(theta)
      }
    }
  }

  /// RoPE over interleaved pairs (GPT-J style, not rotate_half), per head:
  /// (x_2i, x_2i+1) → (x_2i·cos − x_2i+1·sin, x_2i·sin + x_2i+1·cos).
  private func rotate(
    _ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, table: UnsafePointer<Float>
  ) {
    let half = headDim / 2
    for r in 0..<rows {
      let cosines = table + r * half
      let sines = table + (rows + r) * half
      for h in 0..<heads {
        let v = x + r * stride + h * headDim
        for i in 0..<half {
          let (even, odd) = (v[2 * i], v[2 * i + 1])
          v[2 * i] = even * cosines[i] - odd * sines[i]
          v[2 * i + 1] = even * sines[i] + odd * cosines[i]
        }
      }
    }
  }
}
