import ZooCore
import ZooPluginKit
import ZooProto

/// Builds `orchid` causal language models: zoo's own model around the causal Orchid
/// operator (the paper trains only bidirectional models):
///
///     h = embedding[tokens]
///     for each block i:
///         h = h + mixer_i(LayerNorm(h; norm1))            zoo's causal Orchid operator
///         h = h + fc2(GELU(fc1(LayerNorm(h; norm2))))
///     logits = LayerNorm(h; norm_f) · lm_headᵀ             (the embedding when tied)
public enum OrchidLMBuilder: ModelBuilder {
  public static var declaration: Zoo_V1_ModelType {
    var type = Zoo_V1_ModelType()
    type.modelType = "orchid"
    type.description_p =
      "Causal language model of Orchid blocks (zoo's causal variant of the data-dependent global convolution): pre-norm LayerNorm blocks of the operator and a GELU MLP, final LayerNorm, tied or separate head. Fixed-size state per sequence: per layer the short and conditioning conv histories and three running DFTs over l_max + 1 bins; at most l_max tokens."
    type.layers = [OrchidLayers.causalOperator.name]
    type.capabilities = OrchidLayers.causalCapabilities(
      decodeCost:
        "O(l_max·D) per layer, the same at every position: ≈ 4·D² + 2·D·d_inner MACs (projections, MLP) + about 60·(l_max + 1)·D flops (three running DFT updates, the conditioning network over l_max + 1 bins, two spectral sums), plus V·D MACs for the head; no re-run of the prefix")
    type.config = OrchidLMConfig.declaredFields
    let mixer = "layers.{i}.mixer."
    type.weights =
      ["embedding.weight", "layers.{i}.norm1.weight", "layers.{i}.norm1.bias"]
      + OrchidLayers.weightNames.map { mixer + $0 }
      + [
        "layers.{i}.norm2.weight", "layers.{i}.norm2.bias", "layers.{i}.mlp.fc1.weight", "layers.{i}.mlp.fc1.bias",
        "layers.{i}.mlp.fc2.weight", "layers.{i}.mlp.fc2.bias", "norm_f.weight", "norm_f.bias", "lm_head.weight",
      ]
    return type
  }

  public static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(OrchidLMConfig.self)
    try config.validate()
    return try OrchidLanguageModel(config: config, weights: context.weights)
  }
}

/// One block's weights.
struct OrchidBlock: @unchecked Sendable {
  let norm1, norm1Bias: Weight
  let mixer: OrchidOperator
  let norm2, norm2Bias: Weight
  /// [d_inner, D], [d_inner], [D, d_inner], [D].
  let fc1, fc1Bias, fc2, fc2Bias: Weight
}

/// A sequence's state: per layer the causal operator's state (`causalStateCount` floats),
/// in one allocation, and scratch for a one-token step so decoding does not allocate.
final class OrchidLMState: ModelState {
  let layerCount: Int
  let layerFloats: Int
  let storage: UnsafeMutablePointer<Float>
  let stepScratch: UnsafeMutablePointer<Float>
  let stepScratchCount: Int
  var length = 0

  init(layers: Int, layerFloats: Int, stepScratchCount: Int) {
    layerCount = layers
    self.layerFloats = layerFloats
    storage = .allocate(capacity: layers * layerFloats)
    storage.initialize(repeating: 0, count: layers * layerFloats)
    self.stepScratchCount = stepScratchCount
    stepScratch = .allocate(capacity: stepScratchCount)
    stepScratch.initialize(repeating: 0, count: stepScratchCount)
  }

  deinit {
    storage.deallocate()
    stepScratch.deallocate()
  }

  func layer(_ i: Int) -> UnsafeMutablePointer<Float> { storage + i * layerFloats }

  func copy() throws -> any ModelState {
    let other = OrchidLMState(layers: layerCount, layerFloats: layerFloats, stepScratchCount: stepScratchCount)
    other.storage.update(from: storage, count: layerCount * layerFloats)
    other.length = length
    return other
  }

  // truncate(to:) keeps ModelState's default, which refuses: the running DFTs sum the
  // whole prefix and cannot forget tokens; re-run the prefix instead.
}

/// The `orchid` language model. Weights are read-only after load; `forward` runs on
/// distinct states concurrently.
final class OrchidLanguageModel: Model, @unchecked Sendable {
  let config: OrchidLMConfig
  let embedding: Weight
  let blocks: [OrchidBlock]
  let finalNorm, finalNormBias: Weight
  /// [V, D]; the embedding itself when the checkpoint has no lm_head.weight.
  let head: Weight
  let info: ModelInfo

  init(config: OrchidLMConfig, weights: Weights) throws {
    self.config = config
    let (v, d, inner) = (config.vocabSize, config.dModel, config.dInner)
    embedding = try weights.tensor("embedding.weight", shape: [v, d])
    blocks = try (0..<config.nLayer).map { i in
      let p = "layers.\(i)."
      return OrchidBlock(
        norm1: try weights.tensor(p + "norm1.weight", shape: [d]), norm1Bias: try weights.tensor(p + "norm1.bias", shape: [d]),
        mixer: try OrchidOperator(weights, prefix: p + "mixer.", config: config.mixer),
        norm2: try weights.tensor(p + "norm2.weight", shape: [d]), norm2Bias: try weights.tensor(p + "norm2.bias", shape: [d]),
        fc1: try weights.tensor(p + "mlp.fc1.weight", shape: [inner, d]),
        fc1Bias: try weights.tensor(p + "mlp.fc1.bias", shape: [inner]),
        fc2: try weights.tensor(p + "mlp.fc2.weight", shape: [d, inner]),
        fc2Bias: try weights.tensor(p + "mlp.fc2.bias", shape: [d]))
    }
    finalNorm = try weights.tensor("norm_f.weight", shape: [d])
    finalNormBias = try weights.tensor("norm_f.bias", shape: [d])
    head = weights.contains("lm_head.weight") ? try weights.tensor("lm_head.weight", shape: [v, d]) : embedding
    let floatBytes = MemoryLayout<Float>.size
    let blockBytes = blocks.reduce(0) { $0 + $1.mixer.weightBytes + (4 * d + 2 * inner * d + inner + d) * floatBytes }
    let headBytes = head === embedding ? 0 : head.count * floatBytes
    info = ModelInfo(
      vocabularySize: v, hiddenSize: d, maxPositions: config.mixer.lMax, maskKinds: [.causal], stateIsFixed: true,
      stateBytes: blocks.count * blocks[0].mixer.causalStateCount * floatBytes,
      weightBytes: (embedding.count + 2 * d) * floatBytes + headBytes + blockBytes)
  }

  /// Scratch floats for `rows` tokens: residual, normalised rows, mixer output, MLP
  /// hidden, then the operator's own.
  private func scratchCount(rows: Int) -> Int {
    rows * (3 * config.dModel + config.dInner) + blocks[0].mixer.causalScratchCount(rows: rows)
  }

  func makeState() throws -> any ModelState {
    OrchidLMState(layers: blocks.count, layerFloats: blocks[0].mixer.causalStateCount, stepScratchCount: scratchCount(rows: 1))
  }

  func forward(_ input: ForwardInput, state anyState: any ModelState, output: ForwardOutput) throws {
    guard let state = anyState as? OrchidLMState, state.layerCount == blocks.count,
      state.layerFloats == blocks[0].mixer.causalStateCount
    else { throw PluginError.invalidArgument("the state passed to orchid forward was not made by this model") }
    try validate(input, state: state)
    let n = input.tokens.count
    if n == 1 {
      try run(input, state: state, scratch: state.stepScratch, output: output, pollCancel: false)
    } else {
      // A cancelled prefill must leave the state as it was.
      let count = state.layerCount * state.layerFloats
      let backup = Array(UnsafeBufferPointer(start: state.storage, count: count))
      let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount(rows: n))
      defer { scratch.deallocate() }
      do {
        try run(input, state: state, scratch: scratch, output: output, pollCancel: true)
      } catch {
        backup.withUnsafeBufferPointer { state.storage.update(from: $0.baseAddress!, count: count) }
        throw error
      }
    }
    state.length += n
  }

  /// Refuses what a causal model with a running state cannot serve, before touching it.
  private func validate(_ input: ForwardInput, state: OrchidLMState) throws {
    guard input.mask == .causal else {
      throw PluginError.failedPrecondition(
        "orchid is a causal language model and supports only the causal mask, not \(input.mask); the bidirectional Orchid operator is the layer kind 'orchid_operator' for encoders")
    }
    let n = input.tokens.count
    if let positions = input.positions {
      guard positions.count == n else {
        throw PluginError.invalidArgument("\(positions.count) positions were given for \(n) tokens")
      }
      for (i, p) in positions.enumerated() where p != Int64(state.length + i) {
        throw PluginError.invalidArgument(
          "position \(p) at row \(i) does not continue the sequence: orchid keeps running sums over \(state.length) tokens, so the positions must be exactly \(state.length)..<\(state.length + n)")
      }
    }
    guard state.length + n <= config.mixer.lMax else {
      throw PluginError.outOfRange(
        "orchid reads at most l_max = \(config.mixer.lMax) tokens; the sequence would reach \(state.length + n)")
    }
    for (i, token) in input.tokens.enumerated() where token < 0 || Int(token) >= config.vocabSize {
      throw PluginError.invalidArgument("token id \(token) at row \(i) is outside the vocabulary of size \(config.vocabSize)")
    }
  }

  private func run(
    _ input: ForwardInput, state: OrchidLMState, scratch: UnsafeMutablePointer<Float>, output: ForwardOutput,
    pollCancel: Bool
  ) throws {
    let (n, d, inner, eps) = (input.tokens.count, config.dModel, config.dInner, config.layerNormEpsilon)
    let residual = scratch
    let normed = residual + n * d
    let mixed = normed + n * d
    let hidden = mixed + n * d
    let mixerScratch = hidden + n * inner
    for (r, token) in input.tokens.enumerated() {
      (residual + r * d).update(from: embedding.pointer + Int(token) * d, count: d)
    }
    for (i, block) in blocks.enumerated() {
      if pollCancel, input.isCancelled() { throw PluginError.cancelled() }
      Kernels.layerNorm(
        residual, rows: n, width: d, weight: block.norm1.pointer, bias: block.norm1Bias.pointer, epsilon: eps, into: normed)
      block.mixer.forwardCausal(
        normed, rows: n, position: state.length, state: state.layer(i), scratch: mixerScratch, into: mixed)
      for j in 0..<(n * d) { residual[j] += mixed[j] }
      Kernels.layerNorm(
        residual, rows: n, width: d, weight: block.norm2.pointer, bias: block.norm2Bias.pointer, epsilon: eps, into: normed)
      BLAS.linear(normed, rows: n, inFeatures: d, weight: block.fc1.pointer, outFeatures: inner, into: hidden)
      addRowBias(block.fc1Bias.pointer, to: hidden, rows: n, width: inner)
      Kernels.geluInPlace(hidden, count: n * inner)
      BLAS.linear(hidden, rows: n, inFeatures: inner, weight: block.fc2.pointer, outFeatures: d, into: residual, accumulate: true)
      addRowBias(block.fc2Bias.pointer, to: residual, rows: n, width: d)
    }
    Kernels.layerNorm(
      residual, rows: n, width: d, weight: finalNorm.pointer, bias: finalNormBias.pointer, epsilon: eps, into: normed)
    output.hidden?.update(from: normed, count: n * d)
    guard let logits = output.logits else { return }
    if let rows = input.logitRows {
      for (k, row) in rows.enumerated() {
        BLAS.linear(
          normed + Int(row) * d, rows: 1, inFeatures: d, weight: head.pointer, outFeatures: config.vocabSize,
          into: logits + k * config.vocabSize)
      }
    } else {
      BLAS.linear(normed, rows: n, inFeatures: d, weight: head.pointer, outFeatures: config.vocabSize, into: logits)
    }
  }
}
