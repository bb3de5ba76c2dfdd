import ZooCore
import ZooPluginKit

/// zoo's Sessa causal language model (model_type "sessa"; the official repository has
/// only the layer):
///
///     h = embedding[tokens]                             embedding.weight [V, D]
///     for each layer i:
///         h = SessaLayer_i(h)                           layers.{i}.* (official SessaLayer names)
///         h = h + MLP_i(h)   when intermediate_size > 0 mlps.{i}.*
///     logits = LayerNorm(h) · lm_headᵀ                  norm.weight, norm.bias; lm_head.weight, else the embedding
///
/// Prefill runs `prefillChunkRows` tokens at a time through all layers (GEMMs, one
/// `strsm` per layer and chunk); a one-token step is GEMV over the cache; a batched step
/// (`step`) runs one token of each of several sequences as the rows of one pass.
final class SessaLanguageModel: BatchedStepModel, @unchecked Sendable {
  let config: SessaConfig
  /// [vocab, hidden].
  let embedding: Weight
  let layers: [SessaLayer]
  /// One per layer, or empty when intermediate_size is 0.
  let mlps: [SessaMLP]
  let finalNormWeight, finalNormBias: Weight
  /// [vocab, hidden]; the embedding itself when the checkpoint has no lm_head.weight.
  let head: Weight
  let layout: SessaCacheLayout
  let prefillChunkRows: Int
  let info: ModelInfo

  init(
    config: SessaConfig, embedding: Weight, layers: [SessaLayer], mlps: [SessaMLP], finalNormWeight: Weight,
    finalNormBias: Weight, head: Weight, prefillChunkRows: Int = 256
  ) {
    precondition(!layers.isEmpty && (mlps.isEmpty || mlps.count == layers.count) && prefillChunkRows > 0)
    self.config = config
    self.embedding = embedding
    self.layers = layers
    self.mlps = mlps
    self.finalNormWeight = finalNormWeight
    self.finalNormBias = finalNormBias
    self.head = head
    self.prefillChunkRows = prefillChunkRows
    let layer = config.layer
    layout = SessaCacheLayout(
      layers: layers.count, kvWidth: layer.kvWidth, width: layer.width, maxPositions: layer.maxLength ?? 0)
    let floatBytes = MemoryLayout<Float>.size
    let weightBytes =
      (embedding.count + 2 * config.hiddenSize + (head === embedding ? 0 : head.count)) * floatBytes
      + layers.reduce(0) { $0 + $1.weightBytes } + mlps.reduce(0) { $0 + $1.weightBytes }
    info = ModelInfo(
      vocabularySize: config.vocabSize, hiddenSize: config.hiddenSize, maxPositions: layout.maxPositions,
      maskKinds: [.causal], stateIsFixed: false, stateBytes: layout.bytesPerToken, weightBytes: weightBytes)
  }

  func makeState() throws -> any ModelState { SessaState(layout: layout) }

  /// Scratch floats for a chunk of `rows` tokens over `keys` positions: the residual
  /// rows, then the largest of a layer's, an MLP's and the final norm's needs.
  private func scratchCount(rows: Int, keys: Int) -> Int {
    let d = config.hiddenSize
    return rows * d + max(layers[0].scratchCount(rows: rows, keys: keys), mlps.first?.scratchCount(rows: rows) ?? 0)
  }

  func forward(_ input: ForwardInput, state anyState: any ModelState, output: ForwardOutput) throws {
    guard let state = anyState as? SessaState, state.layout == layout else {
      throw PluginError.invalidArgument("the state passed to sessa forward was not made by this model")
    }
    let start = try firstPosition(input, state: state)
    let n = input.tokens.count
    guard n > 0 else { return }
    // Replacing positions start..<length: the later rows depend on them, so they go too.
    if start < state.length { try state.truncate(to: start) }
    state.reserve(start + n)
    let chunk = min(n, prefillChunkRows)
    // Sized for the cache's capacity, not this call's length, so a decode step allocates
    // only when the cache doubles.
    let scratch = state.scratch(scratchCount(rows: chunk, keys: state.capacity))
    // state.length moves only once every row is in: a cancelled or failed call leaves
    // the state holding positions 0..<start.
    for offset in stride(from: 0, to: n, by: chunk) {
      try runChunk(
        input, offset: offset, rows: min(chunk, n - offset), start: start, state: state, scratch: scratch,
        output: output)
    }
    state.length = start + n
  }

  /// Checks the call before anything is touched and returns its first position: the
  /// state's length, or the given positions' first, which must be consecutive, at most
  /// the length and reach at least its end (a Sessa row depends on every earlier row,
  /// so positions can be replaced only together with everything after them).
  private func firstPosition(_ input: ForwardInput, state: SessaState) throws -> Int {
    guard input.mask == .causal else {
      throw PluginError.failedPrecondition(
        "sessa is causal (its feedback solve runs over earlier positions only) and supports only the causal mask, not \(input.mask)"
      )
    }
    let n = input.tokens.count
    var start = state.length
    if let positions = input.positions, n > 0 {
      guard positions.count == n else {
        throw PluginError.invalidArgument("\(positions.count) positions were given for \(n) tokens")
      }
      start = Int(positions[0])
      for (i, p) in positions.enumerated() where p != Int64(start + i) {
        throw PluginError.invalidArgument(
          "position \(p) at row \(i) does not follow position \(start) at row 0: sessa takes consecutive positions")
      }
      guard start >= 0, start <= state.length else {
        throw PluginError.invalidArgument(
          "position \(start) would leave a hole: the sequence has \(state.length) positions, so the first may be \(state.length) at most"
        )
      }
      guard start + n >= state.length else {
        throw PluginError.failedPrecondition(
          "positions \(start)..<\(start + n) would replace tokens that positions \(start + n)..<\(state.length) depend on; truncate the state to \(start) first"
        )
      }
    }
    if layout.maxPositions > 0, start + n > layout.maxPositions {
      throw PluginError.outOfRange(
        "positions up to \(start + n - 1) are beyond the model's \(layout.maxPositions) positions (max_position_embeddings)"
      )
    }
    for (i, token) in input.tokens.enumerated() where token < 0 || Int(token) >= config.vocabSize {
      throw PluginError.invalidArgument(
        "token id \(token) at row \(i) is outside the vocabulary of size \(config.vocabSize)")
    }
    if let rows = input.logitRows {
      for row in rows where row < 0 || row >= Int64(n) {
        throw PluginError.invalidArgument("logit row \(row) is outside the \(n) tokens of this call")
      }
    }
    return start
  }

  /// Runs tokens offset..<offset+rows (positions start+offset...) through every layer
  /// and writes their outputs.
  private func runChunk(
    _ input: ForwardInput, offset: Int, rows: Int, start: Int, state: SessaState, scratch: UnsafeMutablePointer<Float>,
    output: ForwardOutput
  ) throws {
    let d = config.hiddenSize
    let h = scratch
    let work = scratch + rows * d
    for r in 0..<rows {
      (h + r * d).update(from: embedding.pointer + Int(input.tokens[offset + r]) * d, count: d)
    }
    for (index, layer) in layers.enumerated() {
      if input.tokens.count > 1, input.isCancelled() { throw PluginError.cancelled() }
      layer.forward(h, rows: rows, start: start + offset, cache: state.layer(index), scratch: work)
      if !mlps.isEmpty { mlps[index].forward(h, rows: rows, scratch: work) }
    }

    let normed = work
    Kernels.layerNorm(
      h, rows: rows, width: d, weight: finalNormWeight.pointer, bias: finalNormBias.pointer,
      epsilon: config.layerNormEps, into: normed)
    output.hidden.map { ($0 + offset * d).update(from: normed, count: rows * d) }
    guard let logits = output.logits else { return }
    // Only the requested rows go through the head; consecutive ones share one GEMM.
    let v = config.vocabSize
    input.forEachLogitRun(in: offset..<(offset + rows)) { first, outputRow, count in
      MatMul.abT(
        m: count, n: v, k: d, normed + (first - offset) * d, lda: d, head.pointer, ldb: d, logits + outputRow * v,
        ldc: v)
    }
  }

  /// One token of each sequence as the rows of one pass. Refuses, before touching any
  /// cache, a state of another model, a token outside the vocabulary and a sequence at
  /// the model's last position.
  func step(_ tokens: UnsafeBufferPointer<Int32>, states anyStates: [any ModelState], logits: UnsafeMutablePointer<Float>) throws {
    let states = try anyStates.map { anyState in
      guard let state = anyState as? SessaState, state.layout == layout else {
        throw PluginError.invalidArgument("a state passed to sessa forward_batch was not made by this model")
      }
      return state
    }
    for (i, state) in states.enumerated() {
      if layout.maxPositions > 0, state.length >= layout.maxPositions {
        throw PluginError.outOfRange(
          "sequence \(i) holds \(state.length) tokens, the model's \(layout.maxPositions) positions (max_position_embeddings)")
      }
      guard tokens[i] >= 0, Int(tokens[i]) < config.vocabSize else {
        throw PluginError.invalidArgument("token id \(tokens[i]) of sequence \(i) is outside the vocabulary of size \(config.vocabSize)")
      }
    }
    for state in states { state.reserve(state.length + 1) }
    let (n, d) = (states.count, config.hiddenSize)
    let longest = states.reduce(0) { max($0, $1.length + 1) }
    let scratch = UnsafeMutablePointer<Float>.allocate(
      capacity: n * d + max(layers[0].stepScratchCount(sequences: n, keys: longest), mlps.first?.scratchCount(rows: n) ?? 0))
    defer { scratch.deallocate() }
    let h = scratch
    let work = scratch + n * d
    for r in 0..<n { (h + r * d).update(from: embedding.pointer + Int(tokens[r]) * d, count: d) }
    for (index, layer) in layers.enumerated() {
      layer.forwardSteps(h, sequences: states.map { ($0.length, $0.layer(index)) }, scratch: work)
      if !mlps.isEmpty { mlps[index].forward(h, rows: n, scratch: work) }
    }
    Kernels.layerNorm(
      h, rows: n, width: d, weight: finalNormWeight.pointer, bias: finalNormBias.pointer, epsilon: config.layerNormEps,
      into: work)
    MatMul.abT(m: n, n: config.vocabSize, k: d, work, lda: d, head.pointer, ldb: d, logits, ldc: config.vocabSize)
    for state in states { state.length += 1 }
  }
}
