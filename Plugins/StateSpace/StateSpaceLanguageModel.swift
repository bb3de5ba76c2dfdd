import Foundation
import ZooCore
import ZooPluginKit

/// One layer's sequence mixer with a fixed-size recurrent state: the part in which
/// Mamba-1 and Mamba-2 differ. Everything around it (embedding, pre-norm residual blocks,
/// final norm, LM head) is `StateSpaceLanguageModel`; input checks and chunked prefill
/// are ZooPluginKit's `RecurrentLanguageModel`.
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
  /// Runs the mixer over `rows` rows: reads the normalised rows `normed` [rows, hidden],
  /// advances each sequence's state over its rows (see `MixerStates`), and adds the
  /// mixer's output into `residual` [rows, hidden].
  func forward(
    _ normed: UnsafePointer<Float>, rows: Int, states: MixerStates, scratch: UnsafeMutablePointer<Float>,
    addingInto residual: UnsafeMutablePointer<Float>)
}

/// One layer's conv and SSM states of each sequence of a mixer call (see ZooPluginKit's
/// `LayerStates`).
struct MixerStates {
  let conv: LayerStates
  let ssm: LayerStates
}

/// Sizes of one model's per-sequence state: per layer, the conv state [K, channels]
/// (time-major, oldest first) and the SSM state, all conv states first, then all SSM
/// states, in the state's one allocation.
struct MambaStateLayout: RecurrentStateLayout {
  var layers: Int
  var convCount: Int
  var ssmCount: Int
  var floatCount: Int { layers * (convCount + ssmCount) }
  // truncate keeps the default, which refuses: the recurrent state summarises the whole
  // prefix and cannot be rewound.
}

/// A Mamba sequence's state; its size does not depend on length.
typealias RecurrentState = RecurrentModelState<MambaStateLayout>

extension RecurrentModelState where Layout == MambaStateLayout {
  func convState(layer: Int) -> UnsafeMutablePointer<Float> {
    storage + layer * layout.convCount
  }

  func ssmState(layer: Int) -> UnsafeMutablePointer<Float> {
    storage + layout.layers * layout.convCount + layer * layout.ssmCount
  }
}

/// A causal language model made of recurrent mixer blocks, as Hugging Face's
/// MambaForCausalLM and Mamba2ForCausalLM (transformers 5.23.0 modeling_mamba.py /
/// modeling_mamba2.py):
///
///     h = embeddings[tokens]
///     for each layer: h = h + mixer(RMSNorm(h))      (pre-norm residual, float32)
///     logits = RMSNorm_f(h) · lm_headᵀ
///
/// ZooPluginKit's `RecurrentLanguageModel` runs prefill `prefillChunkRows` tokens at a
/// time through `runChunk`, so matrix products are GEMMs while scratch memory stays
/// bounded; a one-token step uses GEMV and the state's preallocated scratch, so decoding
/// does not allocate. A batched step (`runSteps`) runs one token of each of several
/// sequences as the rows of one pass.
final class StateSpaceLanguageModel: BatchedRecurrentLanguageModel, @unchecked Sendable {
  let modelType: String
  let vocabularySize: Int
  let hiddenSize: Int
  let epsilon: Float
  /// [vocab, hidden].
  let embeddings: WeightMatrix
  /// Per layer, the block's RMSNorm weight [hidden].
  let blockNorms: [Weight]
  let mixers: [any RecurrentMixer]
  /// [hidden].
  let finalNorm: Weight
  /// [vocab, hidden]; the embedding itself when the checkpoint has no lm_head.weight.
  let lmHead: WeightMatrix
  let prefillChunkRows: Int
  let stateLayout: MambaStateLayout
  let info: ModelInfo

  init(
    modelType: String, vocabularySize: Int, hiddenSize: Int, epsilon: Float, embeddings: WeightMatrix,
    blockNorms: [Weight], mixers: [any RecurrentMixer], finalNorm: Weight, lmHead: WeightMatrix,
    prefillChunkRows: Int = 512
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
    self.prefillChunkRows = prefillChunkRows
    stateLayout = MambaStateLayout(
      layers: mixers.count, convCount: mixers[0].convStateCount, ssmCount: mixers[0].ssmStateCount)
    let floatBytes = MemoryLayout<Float>.size
    let headBytes = lmHead.data == embeddings.data ? 0 : lmHead.byteCount
    let weightBytes =
      embeddings.byteCount + headBytes + (finalNorm.count + blockNorms.reduce(0) { $0 + $1.count }) * floatBytes
      + mixers.reduce(0) { $0 + $1.weightBytes }
    info = ModelInfo(
      vocabularySize: vocabularySize, hiddenSize: hiddenSize, maxPositions: 0, maskKinds: [.causal],
      stateIsFixed: true, stateBytes: stateLayout.floatCount * floatBytes, weightBytes: weightBytes)
  }

  /// Reads the weights every Hugging Face Mamba-family causal LM shares (checking every
  /// shape) around `layers` mixers that `mixer(layer, arena)` reads, with the large
  /// matrices copied into huge pages or read in place.
  convenience init(
    modelType: String, weights: Weights, vocabularySize v: Int, hiddenSize d: Int, layers: Int, epsilon: Float,
    prefillChunkRows: Int, copyToHugePages: Bool, mixer: (Int, HugePageArena?) throws -> any RecurrentMixer
  ) throws {
    let arena = copyToHugePages ? HugePageArena() : nil
    let stored = try BackboneWeights.embeddings(weights, vocab: v, hidden: d)
    let embeddings = arena?.place(stored) ?? stored
    let head = try weights.head(tiedTo: stored)
    let lmHead = head.data == stored.data ? embeddings : arena?.place(head) ?? head
    var norms: [Weight] = []
    var mixers: [any RecurrentMixer] = []
    for layer in 0..<layers {
      norms.append(try weights.tensor("backbone.layers.\(layer).norm.weight", shape: [d]))
      mixers.append(try mixer(layer, arena))
    }
    self.init(
      modelType: modelType, vocabularySize: v, hiddenSize: d, epsilon: epsilon, embeddings: embeddings,
      blockNorms: norms, mixers: mixers, finalNorm: try weights.tensor("backbone.norm_f.weight", shape: [d]),
      lmHead: lmHead, prefillChunkRows: prefillChunkRows)
  }

  /// The manifest's weight names of a model whose blocks' mixers read `mixer` (names
  /// under `backbone.layers.{i}.mixer.`), around what every Mamba-family model reads.
  static func weightNames(mixer: [String]) -> [String] {
    ["backbone.embeddings.weight", "backbone.layers.{i}.norm.weight"]
      + mixer.map { "backbone.layers.{i}.mixer." + $0 } + ["backbone.norm_f.weight", "lm_head.weight"]
  }

  /// Scratch floats for a chunk of `rows` tokens: residual and normalised rows, then
  /// the mixer's own.
  func scratchCount(rows: Int) -> Int {
    2 * rows * hiddenSize + mixers[0].scratchCount(rows: rows)
  }

  func stateSummary(length: Int) -> String { "keeps a recurrent state of \(length) tokens" }

  /// Runs tokens start..<start+rows through every layer and writes their outputs.
  func runChunk(
    _ input: ForwardInput, start: Int, rows: Int, state: RecurrentState, scratch: UnsafeMutablePointer<Float>,
    output: ForwardOutput, pollCancel: Bool
  ) throws {
    let d = hiddenSize
    for r in 0..<rows { embeddings.widenRow(Int(input.tokens[start + r]), into: scratch + r * d) }
    try runLayers(
      rows: rows, states: CollectionOfOne(state), scratch: scratch,
      isCancelled: pollCancel ? input.isCancelled : nil)
    writeOutputs(input, start: start, rows: rows, residual: scratch, normed: scratch + rows * d, output: output)
  }

  /// One token of each sequence, as the rows of one pass; logits for every row.
  func runSteps(
    _ tokens: UnsafeBufferPointer<Int32>, states: [RecurrentState], scratch: UnsafeMutablePointer<Float>,
    logits: UnsafeMutablePointer<Float>
  ) throws {
    let d = hiddenSize
    let rows = tokens.count
    for r in 0..<rows { embeddings.widenRow(Int(tokens[r]), into: scratch + r * d) }
    try runLayers(rows: rows, states: states, scratch: scratch, isCancelled: nil)
    let normed = scratch + rows * d
    Kernels.rmsNorm(scratch, rows: rows, width: d, weight: finalNorm.pointer, epsilon: epsilon, into: normed)
    lmHead.multiply(normed, ldx: d, count: rows, into: logits, ldy: vocabularySize)
  }

  /// Runs the embedded rows at the start of `scratch` (the residual stream [rows, hidden])
  /// through every block; the rows are the states' in order, `rows / states.count` each
  /// (`MixerStates`). Throws between layers once `isCancelled` says so.
  private func runLayers<States: RandomAccessCollection<RecurrentState>>(
    rows: Int, states: States, scratch: UnsafeMutablePointer<Float>, isCancelled: (() -> Bool)?
  ) throws where States.Index == Int {
    let d = hiddenSize
    let residual = scratch
    let normed = scratch + rows * d
    let mixerScratch = normed + rows * d
    let n = states.count
    try LayerStates.withStorage(sequences: n, rows: rows) { convPointers, conv in
      try LayerStates.withStorage(sequences: n, rows: rows) { ssmPointers, ssm in
        for layer in 0..<mixers.count {
          if let isCancelled, isCancelled() { throw PluginError.cancelled() }
          for i in 0..<n {
            convPointers[i] = states[i].convState(layer: layer)
            ssmPointers[i] = states[i].ssmState(layer: layer)
          }
          Kernels.rmsNorm(
            residual, rows: rows, width: d, weight: blockNorms[layer].pointer, epsilon: epsilon, into: normed)
          mixers[layer].forward(
            normed, rows: rows, states: MixerStates(conv: conv, ssm: ssm), scratch: mixerScratch, addingInto: residual)
        }
      }
    }
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
    input.forEachLogitRun(in: start..<(start + rows)) { first, outputRow, count in
      let source: UnsafePointer<Float>
      if let hidden = output.hidden {
        source = UnsafePointer(hidden + first * d)
      } else {
        Kernels.rmsNorm(
          residual + (first - start) * d, rows: count, width: d, weight: finalNorm.pointer, epsilon: epsilon,
          into: normed)
        source = UnsafePointer(normed)
      }
      lmHead.multiply(source, ldx: d, count: count, into: logits + outputRow * vocabularySize, ldy: vocabularySize)
    }
  }
}

/// Reading the weights every Hugging Face Mamba-family causal LM shares.
enum BackboneWeights {
  /// `backbone.embeddings.weight`, accepting the original `backbone.embedding.weight`
  /// spelling as transformers' load hook does.
  static func embeddings(_ weights: Weights, vocab: Int, hidden: Int) throws -> WeightMatrix {
    let name = "backbone.embeddings.weight"
    if !weights.contains(name), weights.contains("backbone.embedding.weight") {
      return try weights.matrix("backbone.embedding.weight", shape: [vocab, hidden])
    }
    return try weights.matrix(name, shape: [vocab, hidden])
  }
}
