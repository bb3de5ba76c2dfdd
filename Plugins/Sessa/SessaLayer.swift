import ZooCore
import ZooPluginKit

/// One Sessa layer (LibratioAI/sessa @ 7218005, sessa/layer.py `SessaLayer`):
///
///     x̂      = LayerNorm(x)                         ln.weight, ln.bias [D]
///     [a | g] = W_in(x̂)                              W_in [2D, D] + bias; a first, g second
///     ā       = GELU(a)                              exact (erf)
///     s       = SessaMixer(ā)                        mixer.*
///     y       = x + W_out(s ⊙ g)                     W_out [D, D] + bias; g is linear (no sigmoid)
///
/// Weights are read by their official state_dict names under a prefix ("" for a bare
/// `SessaLayer.state_dict()`, "layers.3." inside zoo's language model).
public final class SessaLayer: @unchecked Sendable {
  public let config: SessaLayerConfig
  let normWeight, normBias: Weight
  let inProjection, outProjection: Linear
  let mixer: SessaMixer

  public init(prefix: String, config: SessaLayerConfig, weights: Weights) throws {
    try config.validate()
    let d = config.width
    self.config = config
    normWeight = try weights.tensor(prefix + "ln.weight", shape: [d])
    normBias = try weights.tensor(prefix + "ln.bias", shape: [d])
    inProjection = try Linear(weights, prefix + "W_in", in: d, out: 2 * d, bias: true)
    outProjection = try Linear(weights, prefix + "W_out", in: d, out: d, bias: true)
    mixer = try SessaMixer(prefix: prefix + "mixer.", config: config, weights: weights)
  }

  /// The cache this layer needs per position, as a one-layer layout.
  public var cacheLayout: SessaCacheLayout {
    SessaCacheLayout(layers: 1, kvWidth: config.kvWidth, width: config.width, maxPositions: config.maxLength ?? 0)
  }

  var weightBytes: Int {
    2 * config.width * MemoryLayout<Float>.size + inProjection.parameterBytes + outProjection.parameterBytes
      + mixer.weightBytes
  }

  /// Scratch floats `forward` needs for `rows` new rows over `keys` = start + rows
  /// positions.
  public func scratchCount(rows: Int, keys: Int) -> Int {
    3 * rows * config.width + mixer.scratchCount(rows: rows, keys: keys)
  }

  /// Scratch floats `forwardSteps` needs for one row of each of `sequences` sequences,
  /// the longest over `keys` positions.
  func stepScratchCount(sequences: Int, keys: Int) -> Int {
    3 * sequences * config.width + mixer.stepScratchCount(sequences: sequences, keys: keys)
  }

  /// `x ← SessaLayer(x)` for rows x [rows, D] at positions start..<start+rows, reading
  /// the cache's rows 0..<start and writing rows start..<start+rows (the official
  /// `forward` when start is 0, `prefill` + `decode_step` otherwise). The cache must
  /// hold start + rows rows.
  public func forward(
    _ x: UnsafeMutablePointer<Float>, rows n: Int, start: Int, cache: SessaLayerCache,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let ag = inputProjection(x, rows: n, scratch: scratch)
    mixer.forward(ag, lda: 2 * config.width, rows: n, start: start, cache: cache, scratch: ag + 2 * n * config.width)
    output(x, rows: n, s: { UnsafePointer(cache.outputs + (start + $0) * self.config.width) }, scratch: scratch)
  }

  /// `x ← SessaLayer(x)` for one row of each sequence (a batched decode step): row r is
  /// sequence r's position `sequences[r].start`, written to its own cache, which must
  /// hold start + 1 rows.
  func forwardSteps(
    _ x: UnsafeMutablePointer<Float>, sequences: [(start: Int, cache: SessaLayerCache)],
    scratch: UnsafeMutablePointer<Float>
  ) {
    let n = sequences.count
    let ag = inputProjection(x, rows: n, scratch: scratch)
    mixer.forwardSteps(ag, lda: 2 * config.width, sequences: sequences, scratch: ag + 2 * n * config.width)
    output(x, rows: n, s: { UnsafePointer(sequences[$0].cache.outputs + sequences[$0].start * self.config.width) }, scratch: scratch)
  }

  /// [ā | g] = [GELU(a) | g] of the normalised rows, after the normalised rows in
  /// `scratch`.
  private func inputProjection(
    _ x: UnsafePointer<Float>, rows n: Int, scratch: UnsafeMutablePointer<Float>
  ) -> UnsafeMutablePointer<Float> {
    let d = config.width
    let normed = scratch
    let ag = normed + n * d
    Kernels.layerNorm(
      x, rows: n, width: d, weight: normWeight.pointer, bias: normBias.pointer, epsilon: config.epsilon, into: normed)
    inProjection.apply(normed, rows: n, into: ag)
    for r in 0..<n { Kernels.geluInPlace(ag + r * 2 * d, count: d) }
    return ag
  }

  /// `x += W_out(s ⊙ g)`, row r's s at `s(r)`: s ⊙ g into the (no longer needed)
  /// normalised rows at the start of `scratch`, then the residual projection.
  private func output(
    _ x: UnsafeMutablePointer<Float>, rows n: Int, s: (Int) -> UnsafePointer<Float>,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let d = config.width
    let gated = scratch
    let ag = scratch + n * d
    for r in 0..<n {
      let (row, sRow, g) = (gated + r * d, s(r), ag + r * 2 * d + d)
      for c in 0..<d { row[c] = sRow[c] * g[c] }
    }
    outProjection.apply(gated, rows: n, into: x, accumulate: true)
  }
}
