import Foundation
import ZooCore
import ZooPluginKit

/// One layer's sequence mixer with a fixed-size recurrent state: the part in which
/// Mamba-1 and Mamba-2 differ. Everything around it (embedding, pre-norm residual blocks,
/// final norm, LM head, input checks, chunked prefill) is `RecurrentLanguageModel`.
///
/// Mixers are classes, held as `[any RecurrentMixer]`: reading an element is then a
/// pointer copy, never an allocation in the decode path.
protocol RecurrentMixer: AnyObject, Sendable {
  /// Floats of this layer's convolution state: the last K pre-conv inputs, [K, channels].
  var convStateCount: Int { get }
  /// Floats of this layer's SSM state.
  var ssmStateCount: Int { get }
  /// Bytes of the weights this layer reads per token.
  var weightBytes: Int { get }
  /// Scratch floats `forward` needs for `rows` rows.
  func scratchCount(rows: Int) -> Int
  /// Runs the mixer over `rows` consecutive tokens of one sequence: reads the normalised
  /// rows `normed` [rows, hidden], advances the layer's state, and adds the mixer's
  /// output into `residual` [rows, hidden].
  func forward(
    _ normed: UnsafePointer<Float>, rows: Int, convState: UnsafeMutablePointer<Float>,
    ssmState: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    addingInto residual: UnsafeMutablePointer<Float>)
}

/// Sizes of one model's per-sequence state, to recognise states made by another model.
struct RecurrentStateLayout: Equatable {
  var layers: Int
  var convCount: Int
  var ssmCount: Int
  var floatCount: Int { layers * (convCount + ssmCount) }
}

/// A sequence's recurrent state: per layer, the conv state [K, channels] (time-major,
/// oldest first) and the SSM state, in one allocation; plus a scratch buffer sized for a
/// one-token step so decoding does not allocate. Its size does not depend on length.
final class RecurrentState: ModelState {
  let layout: RecurrentStateLayout
  /// layers × (convCount + ssmCount) floats: all conv states first, then all SSM states.
  let storage: UnsafeMutablePointer<Float>
  let decodeScratch: UnsafeMutablePointer<Float>
  let decodeScratchCount: Int
  var length: Int = 0

  init(layout: RecurrentStateLayout, decodeScratchCount: Int) {
    self.layout = layout
    storage = .allocate(capacity: max(layout.floatCount, 1))
    storage.initialize(repeating: 0, count: max(layout.floatCount, 1))
    self.decodeScratchCount = decodeScratchCount
    decodeScratch = .allocate(capacity: max(decodeScratchCount, 1))
    decodeScratch.initialize(repeating: 0, count: max(decodeScratchCount, 1))
  }

  deinit {
    storage.deallocate()
    decodeScratch.deallocate()
  }

  func convState(layer: Int) -> UnsafeMutablePointer<Float> {
    storage + layer * layout.convCount
  }

  func ssmState(layer: Int) -> UnsafeMutablePointer<Float> {
    storage + layout.layers * layout.convCount + layer * layout.ssmCount
  }

  /// A deep copy of the state (for beam search and speculative decoding).
  func copy() throws -> any ModelState {
    let other = RecurrentState(layout: layout, decodeScratchCount: decodeScratchCount)
    other.storage.update(from: storage, count: layout.floatCount)
    other.length = length
    return other
  }

  // truncate(to:) keeps ModelState's default, which throws failedPrecondition: the
  // recurrent state summarises the whole prefix and cannot be rewound.
}

/// A causal language model made of recurrent mixer blocks, as Hugging Face's
/// MambaForCausalLM and Mamba2ForCausalLM (transformers 5.23.0 modeling_mamba.py /
/// modeling_mamba2.py):
///
///     h = embeddings[tokens]
///     for each layer: h = h + mixer(RMSNorm(h))      (pre-norm residual, float32)
///     logits = RMSNorm_f(h) · lm_headᵀ
///
/// Prefill runs `prefillChunkRows` tokens at a time through all layers, so matrix
/// products are GEMMs while scratch memory stays bounded; a one-token step uses GEMV and
/// the state's preallocated scratch, so decoding does not allocate.
final class RecurrentLanguageModel: Model, @unchecked Sendable {
  let modelType: String
  let vocabularySize: Int
  let hiddenSize: Int
  let epsilon: Float
  /// [vocab, hidden].
  let embeddings: Weight
  /// Per layer, the block's RMSNorm weight [hidden].
  let blockNorms: [Weight]
  let mixers: [any RecurrentMixer]
  /// [hidden].
  let finalNorm: Weight
  /// [vocab, hidden]; the embedding itself when the checkpoint has no lm_head.weight.
  let lmHead: Weight
  /// Huge-page copies of the large matrices, or nil when they are read in place.
  let arena: HugePageArena?
  /// Where the kernels read the embedding and the head (the same buffer when tied).
  let embeddingData, lmHeadData: UnsafePointer<Float>
  let prefillChunkRows: Int
  let stateLayout: RecurrentStateLayout
  let info: ModelInfo

  init(
    modelType: String, vocabularySize: Int, hiddenSize: Int, epsilon: Float, embeddings: Weight,
    blockNorms: [Weight], mixers: [any RecurrentMixer], finalNorm: Weight, lmHead: Weight,
    arena: HugePageArena?, prefillChunkRows: Int = 512
  ) {
    precondition(!mixers.isEmpty && mixers.count == blockNorms.count && prefillChunkRows > 0)
    self.modelType = modelType
    self.vocabularySize = vocabularySize
    self.hiddenSize = hiddenSize
    self.epsilon = epsilon
    self.embeddings = embeddings
    self.blockNorms = blockNorms
    self.mixers = mixers
    self.finalNorm = finalNorm
    self.lmHead = lmHead
    self.arena = arena
    embeddingData = arena?.place(embeddings) ?? embeddings.pointer
    lmHeadData = lmHead === embeddings ? embeddingData : arena?.place(lmHead) ?? lmHead.pointer
    self.prefillChunkRows = prefillChunkRows
    stateLayout = RecurrentStateLayout(
      layers: mixers.count, convCount: mixers[0].convStateCount, ssmCount: mixers[0].ssmStateCount)
    let floatBytes = MemoryLayout<Float>.size
    let headBytes = lmHead === embeddings ? 0 : lmHead.count * floatBytes
    let weightBytes =
      (embeddings.count + finalNorm.count + blockNorms.reduce(0) { $0 + $1.count }) * floatBytes + headBytes
      + mixers.reduce(0) { $0 + $1.weightBytes }
    info = ModelInfo(
      vocabularySize: vocabularySize, hiddenSize: hiddenSize, maxPositions: 0, maskKinds: [.causal],
      stateIsFixed: true, stateBytes: stateLayout.floatCount * floatBytes, weightBytes: weightBytes)
  }

  /// Scratch floats for a chunk of `rows` tokens: residual and normalised rows, then
  /// the mixer's own.
  private func scratchCount(rows: Int) -> Int {
    2 * rows * hiddenSize + mixers[0].scratchCount(rows: rows)
  }

  func makeState() throws -> any ModelState {
    RecurrentState(layout: stateLayout, decodeScratchCount: scratchCount(rows: 1))
  }

  func forward(_ input: ForwardInput, state anyState: any ModelState, output: ForwardOutput) throws {
    guard let state = anyState as? RecurrentState, state.layout == stateLayout else {
      throw PluginError.invalidArgument("the state passed to \(modelType) forward was not made by this model")
    }
    try validate(input, state: state)
    let n = input.tokens.count
    guard n > 0 else { return }

    if n == 1 {
      // Decode step: preallocated scratch, GEMV everywhere, nothing to cancel.
      try runChunk(
        input, start: 0, rows: 1, state: state, scratch: state.decodeScratch, output: output, pollCancel: false)
    } else {
      // A cancelled or failed prefill must not leave some layers advanced and others not:
      // keep the state as it was and put it back on error.
      let backup = UnsafeMutablePointer<Float>.allocate(capacity: max(stateLayout.floatCount, 1))
      backup.initialize(from: state.storage, count: stateLayout.floatCount)
      let chunk = min(n, prefillChunkRows)
      let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount(rows: chunk))
      defer {
        backup.deallocate()
        scratch.deallocate()
      }
      do {
        for start in stride(from: 0, to: n, by: chunk) {
          try runChunk(
            input, start: start, rows: min(chunk, n - start), state: state, scratch: scratch, output: output,
            pollCancel: true)
        }
      } catch {
        state.storage.update(from: backup, count: stateLayout.floatCount)
        throw error
      }
    }
    state.length += n
  }

  /// Refuses inputs a causal recurrent model cannot serve, before touching the state.
  private func validate(_ input: ForwardInput, state: RecurrentState) throws {
    guard input.mask == .causal else {
      throw PluginError.failedPrecondition(
        "\(modelType) is a causal recurrent model and supports only the causal mask, not \(input.mask)")
    }
    let n = input.tokens.count
    if let positions = input.positions {
      guard positions.count == n else {
        throw PluginError.invalidArgument("\(positions.count) positions were given for \(n) tokens")
      }
      for (i, p) in positions.enumerated() where p != Int64(state.length + i) {
        throw PluginError.invalidArgument(
          "position \(p) at row \(i) does not continue the sequence: \(modelType) keeps a recurrent state of \(state.length) tokens, so the positions must be exactly \(state.length)..<\(state.length + n)")
      }
    }
    for (i, token) in input.tokens.enumerated() where token < 0 || Int(token) >= vocabularySize {
      throw PluginError.invalidArgument(
        "token id \(token) at row \(i) is outside the vocabulary of size \(vocabularySize)")
    }
    if let rows = input.logitRows {
      for row in rows where row < 0 || row >= Int64(n) {
        throw PluginError.invalidArgument("logit row \(row) is outside the \(n) tokens of this call")
      }
    }
  }

  /// Runs tokens start..<start+rows through every layer and writes their outputs.
  private func runChunk(
    _ input: ForwardInput, start: Int, rows: Int, state: RecurrentState, scratch: UnsafeMutablePointer<Float>,
    output: ForwardOutput, pollCancel: Bool
  ) throws {
    let d = hiddenSize
    let residual = scratch
    let normed = scratch + rows * d
    let mixerScratch = normed + rows * d
    for r in 0..<rows {
      let token = Int(input.tokens[start + r])
      (residual + r * d).update(from: embeddingData + token * d, count: d)
    }
    for layer in 0..<mixers.count {
      if pollCancel, input.isCancelled() { throw PluginError.cancelled() }
      let mixer = mixers[layer]
      Kernels.rmsNorm(
        residual, rows: rows, width: d, weight: blockNorms[layer].pointer, epsilon: epsilon, into: normed)
      mixer.forward(
        normed, rows: rows, convState: state.convState(layer: layer), ssmState: state.ssmState(layer: layer),
        scratch: mixerScratch, addingInto: residual)
    }
    writeOutputs(input, start: start, rows: rows, residual: residual, normed: normed, output: output)
  }

  /// Final norm and LM head for the rows of this chunk that the caller asked for. Only
  /// requested rows go through the head; runs of consecutive rows share one GEMM.
  private func writeOutputs(
    _ input: ForwardInput, start: Int, rows: Int, residual: UnsafeMutablePointer<Float>,
    normed: UnsafeMutablePointer<Float>, output: ForwardOutput
  ) {
    let d = hiddenSize
    if let hidden = output.hidden {
      Kernels.rmsNorm(
        residual, rows: rows, width: d, weight: finalNorm.pointer, epsilon: epsilon, into: hidden + start * d)
    }
    guard let logits = output.logits else { return }
    let end = start + rows
    let wanted = input.logitRowCount
    func tokenRow(_ i: Int) -> Int { input.logitRows.map { Int($0[i]) } ?? i }
    var i = 0
    while i < wanted {
      let first = tokenRow(i)
      guard first >= start, first < end else {
        i += 1
        continue
      }
      var count = 1
      while i + count < wanted, tokenRow(i + count) == first + count, first + count < end { count += 1 }
      let source: UnsafePointer<Float>
      if let hidden = output.hidden {
        source = UnsafePointer(hidden + first * d)
      } else {
        Kernels.rmsNorm(
          residual + (first - start) * d, rows: count, width: d, weight: finalNorm.pointer, epsilon: epsilon,
          into: normed)
        source = UnsafePointer(normed)
      }
      BLAS.linear(
        source, rows: count, inFeatures: d, weight: lmHeadData, outFeatures: vocabularySize,
        into: logits + i * vocabularySize)
      i += count
    }
  }
}

/// Reading the weights every Hugging Face Mamba-family causal LM shares.
enum BackboneWeights {
  /// `backbone.embeddings.weight`, accepting the original `backbone.embedding.weight`
  /// spelling as transformers' load hook does.
  static func embeddings(_ weights: Weights, vocab: Int, hidden: Int) throws -> Weight {
    let name = "backbone.embeddings.weight"
    if !weights.contains(name), weights.contains("backbone.embedding.weight") {
      return try weights.tensor("backbone.embedding.weight", shape: [vocab, hidden])
    }
    return try weights.tensor(name, shape: [vocab, hidden])
  }

  /// `lm_head.weight` when the checkpoint has it; otherwise the embedding (tied, as
  /// save_pretrained drops the tied copy).
  static func lmHead(_ weights: Weights, embeddings: Weight, vocab: Int, hidden: Int) throws -> Weight {
    guard weights.contains("lm_head.weight") else { return embeddings }
    return try weights.tensor("lm_head.weight", shape: [vocab, hidden])
  }

  /// The named weight if `present`, else nil; used for optional biases.
  static func optional(_ weights: Weights, _ name: String, shape: [Int], present: Bool) throws -> Weight? {
    present ? try weights.tensor(name, shape: shape) : nil
  }
}

/// A float32 buffer derived from weights at load time (transposed or precomputed),
/// owned by the model.
final class OwnedFloats: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Float>
  let count: Int

  init(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) {
    self.count = count
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
    fill(pointer)
  }

  deinit { pointer.deallocate() }
}

/// Adds `bias` [width] to each of `rows` rows of `x` (row stride `stride`).
func addBias(_ bias: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int) {
  for r in 0..<rows {
    let row = x + r * stride
    for c in 0..<width { row[c] += bias[c] }
  }
}
