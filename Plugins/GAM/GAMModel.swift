import ZooCore
import ZooPluginKit
import ZooProto

/// The sizes of a GAM sequence's decoding state: per layer the last k − 1 rows of
/// x̂ = LayerNorm₁(x) ([k − 1, D], oldest first; zeros before the first token), which is
/// all the causal convolution reads from the past. Its size does not depend on length.
struct GAMStateLayout: RecurrentStateLayout {
  let layers: Int
  /// Floats of one layer's window, (k − 1)·D.
  let windowCount: Int

  var floatCount: Int { layers * windowCount }

  /// Only the trivial cuts: to the current length (nothing to do) or to 0 (a fresh
  /// sequence). Any other prefix needs the x̂ rows just before the cut, which the window
  /// has already dropped.
  func truncate(_ state: GAMState, to newLength: Int) throws {
    if newLength == state.length { return }
    guard newLength == 0 else {
      throw PluginError.failedPrecondition(
        "a GAM state keeps only the last k − 1 normalised inputs of each layer, so it cannot go back from \(state.length) to \(newLength) tokens; truncate to 0 or re-run the prefix in a fresh state")
    }
    state.storage.update(repeating: 0, count: floatCount)
    state.length = 0
  }
}

/// A GAM sequence's state: the windows of every layer, and the number of tokens consumed
/// (the next position).
typealias GAMState = RecurrentModelState<GAMStateLayout>

extension RecurrentModelState where Layout == GAMStateLayout {
  func window(layer: Int) -> UnsafeMutablePointer<Float> { storage + layer * layout.windowCount }
}

/// The official `GAM_Model` (rishiraj/gam @ 2ebb82e, gam_model.py) as a zoo model:
///
///     x      = token_embedding[id_t] + pos_embedding[t]      (t < BLOCK_SIZE; dropout off)
///     x      = GAMBlock_i(x)  for i < N_LAYER
///     logits = LayerNorm_f(x) · headᵀ                        (head tied to token_embedding)
///
/// ZooPluginKit's `RecurrentLanguageModel` runs prefill `prefillChunkRows` tokens at a
/// time through `runChunk` (GEMMs, bounded scratch); a one-token step uses GEMV and the
/// state's scratch, so decoding does not allocate; a batched step (`runSteps`) runs one
/// token of each of several sequences as the rows of one pass. Positions past
/// BLOCK_SIZE − 1 have no embedding and are refused.
final class GAMLanguageModel: BatchedRecurrentLanguageModel, @unchecked Sendable {
  let config: GAMConfig
  /// token_embedding.weight [V, D].
  let tokenEmbedding: Weight
  /// pos_embedding.weight [BLOCK_SIZE, D].
  let positionEmbedding: Weight
  let blocks: [GAMBlock]
  let finalNormWeight, finalNormBias: Weight
  /// head.weight [V, D]; the same Weight as the embedding when only one key is stored.
  let head: Weight
  let prefillChunkRows: Int
  let stateLayout: GAMStateLayout
  let info: ModelInfo

  init(
    config: GAMConfig, tokenEmbedding: Weight, positionEmbedding: Weight, blocks: [GAMBlock],
    finalNormWeight: Weight, finalNormBias: Weight, head: Weight, prefillChunkRows: Int
  ) {
    precondition(!blocks.isEmpty && prefillChunkRows > 0)
    self.config = config
    self.tokenEmbedding = tokenEmbedding
    self.positionEmbedding = positionEmbedding
    self.blocks = blocks
    self.finalNormWeight = finalNormWeight
    self.finalNormBias = finalNormBias
    self.head = head
    self.prefillChunkRows = prefillChunkRows
    stateLayout = GAMStateLayout(layers: blocks.count, windowCount: blocks[0].windowRows * config.embeddingSize)
    let floatBytes = MemoryLayout<Float>.size
    let vectors = [tokenEmbedding, positionEmbedding, finalNormWeight, finalNormBias].reduce(0) { $0 + $1.count }
    let weightBytes =
      (vectors + (head === tokenEmbedding ? 0 : head.count)) * floatBytes + blocks.reduce(0) { $0 + $1.weightBytes }
    info = ModelInfo(
      vocabularySize: config.vocabSize, hiddenSize: config.embeddingSize, maxPositions: config.blockSize,
      maskKinds: [.causal], stateIsFixed: true,
      stateBytes: stateLayout.floatCount * floatBytes, weightBytes: weightBytes)
  }

  private var width: Int { config.embeddingSize }

  var modelType: String { "gam" }

  /// Scratch floats for a chunk of `rows` tokens: the residual rows, the final-norm rows,
  /// then the block's own.
  func scratchCount(rows: Int) -> Int {
    2 * rows * width + blocks[0].scratchCount(rows: rows)
  }

  func maskRefusal(_ mask: MaskKind) -> String {
    "gam is a causal model and supports only the causal mask, not \(mask)"
  }

  func stateSummary(length: Int) -> String {
    "keeps only a window of the last \(blocks[0].windowRows) inputs per layer after \(length) tokens"
  }

  /// GAM has an embedding for positions 0..<BLOCK_SIZE only.
  func checkLength(_ length: Int, adding n: Int) throws {
    guard length + n <= config.blockSize else {
      throw PluginError.outOfRange(
        "this call would reach position \(length + n - 1), beyond this GAM model's \(config.blockSize) learned positions (BLOCK_SIZE = \(config.blockSize), so positions 0...\(config.blockSize - 1)): the state holds \(length) tokens and the call adds \(n); GAM has no embedding for later positions and zoo does not clamp them")
    }
  }

  /// Runs tokens start..<start+rows through every block and writes their outputs.
  func runChunk(
    _ input: ForwardInput, start: Int, rows: Int, state: GAMState, scratch: UnsafeMutablePointer<Float>,
    output: ForwardOutput, pollCancel: Bool
  ) throws {
    for r in 0..<rows { embed(input.tokens[start + r], at: state.length + start + r, into: scratch + r * width) }
    try runBlocks(rows: rows, states: CollectionOfOne(state), scratch: scratch, isCancelled: pollCancel ? input.isCancelled : nil)
    writeOutputs(input, start: start, rows: rows, x: scratch, normed: scratch + rows * width, output: output)
  }

  /// One token of each sequence, each at its own position, as the rows of one pass.
  func runSteps(
    _ tokens: UnsafeBufferPointer<Int32>, states: [GAMState], scratch: UnsafeMutablePointer<Float>,
    logits: UnsafeMutablePointer<Float>
  ) throws {
    let rows = tokens.count
    for r in 0..<rows { embed(tokens[r], at: states[r].length, into: scratch + r * width) }
    try runBlocks(rows: rows, states: states, scratch: scratch, isCancelled: nil)
    let normed = scratch + rows * width
    Kernels.layerNorm(
      scratch, rows: rows, width: width, weight: finalNormWeight.pointer, bias: finalNormBias.pointer,
      epsilon: GAMConfig.layerNormEpsilon, into: normed)
    BLAS.linear(normed, rows: rows, inFeatures: width, weight: head.pointer, outFeatures: config.vocabSize, into: logits)
  }

  /// x = token_embedding[token] + pos_embedding[position].
  private func embed(_ token: Int32, at position: Int, into row: UnsafeMutablePointer<Float>) {
    let tokenRow = tokenEmbedding.pointer + Int(token) * width
    let positionRow = positionEmbedding.pointer + position * width
    for c in 0..<width { row[c] = tokenRow[c] + positionRow[c] }
  }

  /// Runs the embedded rows at the start of `scratch` through every block; the rows are
  /// the states' in order, `rows / states.count` each.
  private func runBlocks<States: RandomAccessCollection<GAMState>>(
    rows: Int, states: States, scratch: UnsafeMutablePointer<Float>, isCancelled: (() -> Bool)?
  ) throws where States.Index == Int {
    let blockScratch = scratch + 2 * rows * width
    try LayerStates.withStorage(sequences: states.count, rows: rows) { pointers, windows in
      for layer in 0..<blocks.count {
        if let isCancelled, isCancelled() { throw PluginError.cancelled() }
        for i in 0..<states.count { pointers[i] = states[i].window(layer: layer) }
        blocks[layer].forward(scratch, rows: rows, windows: windows, scratch: blockScratch)
      }
    }
  }

  /// Final LayerNorm and the tied head for this chunk's rows: all rows in one GEMM when
  /// the caller wants every row, otherwise one GEMV per requested row.
  private func writeOutputs(
    _ input: ForwardInput, start: Int, rows: Int, x: UnsafeMutablePointer<Float>, normed: UnsafeMutablePointer<Float>,
    output: ForwardOutput
  ) {
    guard output.hidden != nil || output.logits != nil else { return }
    let d = width
    let v = config.vocabSize
    let source = output.hidden.map { $0 + start * d } ?? normed
    Kernels.layerNorm(
      x, rows: rows, width: d, weight: finalNormWeight.pointer, bias: finalNormBias.pointer,
      epsilon: GAMConfig.layerNormEpsilon, into: source)
    guard let logits = output.logits else { return }
    guard let wanted = input.logitRows else {
      BLAS.linear(source, rows: rows, inFeatures: d, weight: head.pointer, outFeatures: v, into: logits + start * v)
      return
    }
    for i in 0..<wanted.count where wanted[i] >= start && wanted[i] < start + rows {
      BLAS.linear(
        source + (Int(wanted[i]) - start) * d, rows: 1, inFeatures: d, weight: head.pointer, outFeatures: v,
        into: logits + i * v)
    }
  }
}

/// Builds GAM language models (config.json model_type "gam") from a folder holding the
/// official GAM_Model's `state_dict()` as safetensors, under its own key names.
public enum GAMBuilder: ModelBuilder {
  /// The manifest entry: model type, layer kind, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .model(
      "gam",
      description:
        "Gated Associative Memory language model (official rishiraj/gam GAM_Model): token plus learned position embedding, GAM blocks (causal depthwise conv, memory-bank softmax retrieval, sigmoid gates, 4x GELU FFN), final LayerNorm, head tied to the token embedding. Causal; at most BLOCK_SIZE positions (later ones are refused). Fixed-size state: the last CONV_KERNEL_SIZE − 1 normalised inputs per layer, N_LAYER·(CONV_KERNEL_SIZE − 1)·N_EMBED floats.",
      layers: [GAMPlugin.blockKind.name],
      capabilities: .recurrent(
        decodeCost:
          "O(1) in context length (which BLOCK_SIZE caps): per layer k·D + 2·S·D + 10·D² MACs and S exps, plus V·D for the head"),
      config: GAMConfig.declaredFields,
      weights: [
        "token_embedding.weight",
        "pos_embedding.weight",
        "blocks.{i}.ln1.weight",
        "blocks.{i}.ln1.bias",
        "blocks.{i}.causal_conv.weight",
        "blocks.{i}.causal_conv.bias",
        "blocks.{i}.memory_bank",
        "blocks.{i}.gate.weight",
        "blocks.{i}.gate.bias",
        "blocks.{i}.ln2.weight",
        "blocks.{i}.ln2.bias",
        "blocks.{i}.ffn.0.weight",
        "blocks.{i}.ffn.0.bias",
        "blocks.{i}.ffn.2.weight",
        "blocks.{i}.ffn.2.bias",
        "ln_f.weight",
        "ln_f.bias",
        "head.weight",
      ])
  }

  /// Reads config.json and the weights (checking every shape) and returns the model.
  public static func load(_ context: ModelLoadContext) throws -> any Model {
    try load(context, prefillChunkRows: 256)
  }

  /// Loads with a chosen prefill chunk length (tests use short chunks to cover the
  /// chunk boundaries).
  static func load(_ context: ModelLoadContext, prefillChunkRows: Int) throws -> GAMLanguageModel {
    let config = try context.config(GAMConfig.self)
    let weights = context.weights
    let (v, d) = (config.vocabSize, config.embeddingSize)
    // One tied tensor under two keys: state_dict() stores both, safetensors' save_model
    // keeps only one of them, so either alone serves as embedding and head.
    let embeddingName = "token_embedding.weight"
    let headName = "head.weight"
    guard weights.contains(embeddingName) || weights.contains(headName) else {
      throw PluginError.notFound(
        "weights '\(embeddingName)' and '\(headName)' (one tied tensor) are both missing from the model's safetensors files")
    }
    let embedding = try weights.tensor(weights.contains(embeddingName) ? embeddingName : headName, shape: [v, d])
    let head =
      weights.contains(embeddingName) && weights.contains(headName)
      ? try weights.tensor(headName, shape: [v, d]) : embedding
    let blocks = try (0..<config.layerCount).map { try GAMBlock(prefix: "blocks.\($0).", config: config, weights: weights) }
    return GAMLanguageModel(
      config: config, tokenEmbedding: embedding,
      positionEmbedding: try weights.tensor("pos_embedding.weight", shape: [config.blockSize, d]), blocks: blocks,
      finalNormWeight: try weights.tensor("ln_f.weight", shape: [d]),
      finalNormBias: try weights.tensor("ln_f.bias", shape: [d]), head: head, prefillChunkRows: prefillChunkRows)
  }
}
