import ZooCore
import ZooPluginKit
import ZooProto

/// Where a decoder stack's weights are in the checkpoint: Hugging Face's Llama names by
/// default, LLaDA's own for `llada`.
struct DecoderWeightNames: Sendable {
  var embedding = "model.embed_tokens.weight"
  /// The prefix of layer i's weights.
  var layer: @Sendable (Int) -> String = { "model.layers.\($0)" }
  var inputNorm = "input_layernorm"
  var attention = "self_attn"
  var attentionNames = AttentionWeightNames()
  var postAttentionNorm = "post_attention_layernorm"
  var mlp = "mlp"
  var mlpNames = (gate: "gate_proj", up: "up_proj", down: "down_proj")
  var finalNorm = "model.norm.weight"
  var head = "lm_head.weight"

  /// Full names of the attention block's and MLP's weights under a layer prefix.
  func attentionPrefix(_ layer: String) -> String { attention.isEmpty ? layer : "\(layer).\(attention)" }
  func mlpPrefix(_ layer: String) -> String { mlp.isEmpty ? layer : "\(layer).\(mlp)" }

  /// Every name a checkpoint of this layout may hold, `{i}` for the layer index (the
  /// manifest's `weights`).
  func declared(biases: Bool, qkNorm: Bool) -> [String] {
    let l = layer(0).replacingOccurrences(of: ".0", with: ".{i}", options: .backwards)
    let a = attentionPrefix(l)
    let m = mlpPrefix(l)
    let n = attentionNames
    var names = [embedding, "\(l).\(inputNorm).weight"]
    for p in [n.query, n.key, n.value, n.output] {
      names.append("\(a).\(p).weight")
      if biases { names.append("\(a).\(p).bias") }
    }
    if qkNorm { names += ["\(a).\(n.queryNorm).weight", "\(a).\(n.keyNorm).weight"] }
    names += ["\(l).\(postAttentionNorm).weight", "\(m).\(mlpNames.gate).weight", "\(m).\(mlpNames.up).weight"]
    names += ["\(m).\(mlpNames.down).weight", finalNorm, head]
    return names
  }
}

/// The shape of a pre-norm decoder stack of the Llama family, resolved once from a
/// family's config.json by its builder (llama.cpp's family builders keep each
/// architecture to a mapping; this is that mapping's target).
struct DecoderArchitecture: Sendable {
  var modelType: String
  /// Rows of the embedding and of the head (the logit width).
  var vocabulary: Int
  var hidden: Int
  var intermediate: Int
  var layers: Int
  var attention: AttentionShape
  var ropeTheta: Double
  var maxPositions: Int
  /// The head is the embedding (tied, or absent from the checkpoint when allowed).
  var tiedHead: Bool
  /// Mask kinds the model was trained for and serves.
  var maskKinds: Set<MaskKind>
  /// Logits at position p come from the hidden state at p − 1 (position 0 keeps its
  /// own): Dream, initialised from an autoregressive model.
  var shiftsLogits = false
  var names = DecoderWeightNames()
}

/// One pre-norm decoder layer: `h += attn(RMSNorm(h))`, `h += mlp(RMSNorm(h))`.
struct DecoderLayer {
  let inputNorm: Weight
  let attention: GatedAttention
  let postAttentionNorm: Weight
  let mlp: SwiGLU
}

/// A Llama-family decoder stack over a position-indexed KV cache (Qwen3 with gated
/// attention, Qwen2, Llama, and the masked-diffusion LLaDA and Dream):
///
///     h = embedding[tokens]
///     each layer: h += Attention(RMSNorm(h)); h += SwiGLU(RMSNorm(h))
///     hidden = RMSNorm(h; final norm), logits = hidden · headᵀ
///
/// With `shiftsLogits`, the logits of position p are the head of position p − 1's hidden
/// state (kept in the cache state per position, so a call that re-runs only some
/// positions still finds its left neighbour's).
final class DecoderTransformer: CachedTransformer, @unchecked Sendable {
  let architecture: DecoderArchitecture
  /// [vocab, hidden], kept as the checkpoint stores it (or quantised), like the head.
  let embeddings: WeightMatrix
  let layers: [DecoderLayer]
  let norm: Weight
  /// The embedding itself when tied or when the head is absent.
  let lmHead: WeightMatrix
  let rope: RotaryEmbedding
  let cacheLayout: KVCacheLayout
  let info: ModelInfo
  let logitsUnavailable: String? = nil
  let epsilon: Float

  var modelType: String { architecture.modelType }
  var vocabularySize: Int { architecture.vocabulary }
  var hiddenSize: Int { architecture.hidden }
  var layerCount: Int { layers.count }
  var shiftsLogits: Bool { architecture.shiftsLogits }

  init(_ architecture: DecoderArchitecture, weights: Weights) throws {
    let a = architecture
    let (v, d) = (a.vocabulary, a.hidden)
    let names = a.names
    self.architecture = a
    epsilon = a.attention.epsilon
    embeddings = try weights.matrix(names.embedding, shape: [v, d])
    layers = try (0..<a.layers).map { i in
      let p = names.layer(i)
      return DecoderLayer(
        inputNorm: try weights.tensor("\(p).\(names.inputNorm).weight", shape: [d]),
        attention: try GatedAttention(
          weights, prefix: names.attentionPrefix(p), shape: a.attention, names: names.attentionNames),
        postAttentionNorm: try weights.tensor("\(p).\(names.postAttentionNorm).weight", shape: [d]),
        mlp: try SwiGLU(
          weights, prefix: names.mlpPrefix(p), hidden: d, intermediate: a.intermediate, names: names.mlpNames))
    }
    norm = try weights.tensor(names.finalNorm, shape: [d])
    lmHead = try weights.head(names.head, tiedTo: embeddings, tied: a.tiedHead)
    rope = RotaryEmbedding(headDim: a.attention.headDim, base: Float(a.ropeTheta))
    cacheLayout = KVCacheLayout(
      layers: layers.count, width: a.attention.kvHeads * a.attention.headDim, maxPositions: a.maxPositions,
      hiddenWidth: a.shiftsLogits ? d : 0)
    let float = MemoryLayout<Float>.size
    let weightBytes =
      embeddings.byteCount + (lmHead.data == embeddings.data ? 0 : lmHead.byteCount) + norm.count * float
      + layers.reduce(0) {
        $0 + $1.attention.parameterBytes + $1.mlp.parameterBytes + ($1.inputNorm.count + $1.postAttentionNorm.count) * float
      }
    info = ModelInfo(
      vocabularySize: v, hiddenSize: d, maxPositions: a.maxPositions, maskKinds: a.maskKinds, stateIsFixed: false,
      stateBytes: cacheLayout.bytesPerToken, weightBytes: weightBytes, acceptsKeyPositions: a.maskKinds.contains(.bidirectional))
  }

  // Scratch: the RoPE table [rows, hd], normalised rows [rows, D], then the attention
  // block's or the MLP's own (they run one after the other).
  func layerScratchCount(rows: Int, keys: Int, gatheredKeys: Int) -> Int {
    rows * (rope.tableWidth + hiddenSize)
      + max(
        layers[0].attention.scratchCount(rows: rows, keys: keys, gatheredKeys: gatheredKeys),
        layers[0].mlp.scratchCount(rows: rows))
  }

  func embedTokens(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], into x: UnsafeMutablePointer<Float>) {
    let d = hiddenSize
    for (r, token) in tokens.enumerated() { embeddings.widenRow(Int(token), into: x + r * d) }
  }

  func prepare(_ plan: CachePlan, scratch: UnsafeMutablePointer<Float>) {
    rope.fillTable(positions: plan.positions, into: scratch)
  }

  func layer(
    _ index: Int, _ x: UnsafeMutablePointer<Float>, plan: CachePlan, cache: KVCacheState,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let n = plan.positions.count
    let d = hiddenSize
    let table = scratch
    let normed = scratch + n * rope.tableWidth
    let rest = normed + n * d
    let layer = layers[index]
    Kernels.rmsNorm(x, rows: n, width: d, weight: layer.inputNorm.pointer, epsilon: epsilon, into: normed)
    layer.attention.forward(
      normed, rows: n, plan: plan, keys: cache.keys(index), values: cache.values(index), rope: rope,
      ropeTable: table, scratch: rest, addingInto: x)
    Kernels.rmsNorm(x, rows: n, width: d, weight: layer.postAttentionNorm.pointer, epsilon: epsilon, into: normed)
    layer.mlp.forward(normed, rows: n, scratch: rest, addingInto: x)
  }

  func finalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {
    Kernels.rmsNorm(x, rows: rows, width: hiddenSize, weight: norm.pointer, epsilon: epsilon, into: x)
  }

  func logits(
    _ hidden: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    into logits: UnsafeMutablePointer<Float>
  ) {
    lmHead.multiply(hidden, ldx: hiddenSize, count: rows, into: logits, ldy: vocabularySize)
  }
}

extension DecoderTransformer: BatchedStepModel {
  /// Causal models only: a bidirectional (diffusion) model has no decode step.
  var batchesSteps: Bool { info.maskKinds.contains(.causal) && !shiftsLogits }

  /// One token of each sequence as the rows of one pass: the projections and the MLP
  /// over all rows at once, RoPE, the cache writes and attention per sequence. Refuses,
  /// before touching any cache, a state of another model, a token outside the
  /// vocabulary and a sequence at the model's last position.
  func step(_ tokens: UnsafeBufferPointer<Int32>, states anyStates: [any ModelState], logits: UnsafeMutablePointer<Float>) throws {
    guard batchesSteps else { throw PluginError.failedPrecondition("\(modelType) has no causal decode step to batch") }
    let states = try anyStates.map { anyState in
      guard let state = anyState as? KVCacheState, state.layout == cacheLayout else {
        throw PluginError.invalidArgument("a state passed to \(modelType) forward_batch was not made by this model")
      }
      return state
    }
    let n = tokens.count
    var plans: [CachePlan] = []
    for (i, state) in states.enumerated() {
      guard tokens[i] >= 0, Int(tokens[i]) < vocabularySize else {
        throw PluginError.invalidArgument("token id \(tokens[i]) of sequence \(i) is outside the vocabulary of size \(vocabularySize)")
      }
      plans.append(
        try CachePlan(
          ForwardInput(tokens: UnsafeBufferPointer(rebasing: tokens[i..<(i + 1)])), length: state.length,
          maxPositions: cacheLayout.maxPositions))
    }
    for (state, plan) in zip(states, plans) { state.reserve(plan.newLength) }
    let d = hiddenSize
    let longest = plans.reduce(0) { max($0, $1.newLength) }
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n * d + layerScratchCount(rows: n, keys: longest, gatheredKeys: 0))
    defer { scratch.deallocate() }
    let x = scratch
    let layerScratch = scratch + n * d
    embedTokens(tokens, positions: [], into: x)
    let table = layerScratch
    let normed = table + n * rope.tableWidth
    let rest = normed + n * d
    rope.fillTable(positions: plans.map { $0.positions[0] }, into: table)
    for index in layers.indices {
      let layer = layers[index]
      let sequences = plans.indices.map { i in
        AttendedSequence(plan: plans[i], keys: states[i].keys(index), values: states[i].values(index), firstRow: i)
      }
      Kernels.rmsNorm(x, rows: n, width: d, weight: layer.inputNorm.pointer, epsilon: epsilon, into: normed)
      layer.attention.forward(
        normed, rows: n, sequences: sequences, rope: rope, ropeTable: table, scratch: rest, addingInto: x)
      Kernels.rmsNorm(x, rows: n, width: d, weight: layer.postAttentionNorm.pointer, epsilon: epsilon, into: normed)
      layer.mlp.forward(normed, rows: n, scratch: rest, addingInto: x)
    }
    for (state, plan) in zip(states, plans) { state.length = plan.newLength }
    finalNorm(x, rows: n)
    self.logits(x, rows: n, scratch: normed, into: logits)
  }
}

extension Zoo_V1_ModelType {
  /// The manifest entry of a decoder-stack family.
  static func decoderStack(
    _ modelType: String, _ description: String, causality: Zoo_V1_Causality, config: [Zoo_V1_ConfigField],
    weights: [String], layers: [String] = [TransformerLayers.gatedAttention.name, TransformerLayers.swigluMLP.name]
  ) -> Zoo_V1_ModelType {
    .with {
      $0.modelType = modelType
      $0.description_p = description
      $0.layers = layers
      $0.capabilities = .growingCache(
        causality: causality,
        decodeCost: "O(context) per token: per layer ≈ D·(H·hd + 2·KV·hd) + H·hd·D + 3·D·I MACs plus 2·H·hd·t for attention over t cached tokens, and V·D for the head",
        embeddings: false)
      $0.config = config
      $0.weights = weights
    }
  }
}

/// The config.json keys Hugging Face transformers' decoder configs share (Qwen3, Llama,
/// Qwen2, Dream), resolved and checked once for every family that reads them.
protocol TransformersDecoderConfig: ModelConfiguration {
  var vocabSize: Int { get }
  var hiddenSize: Int { get }
  var intermediateSize: Int { get }
  var numHiddenLayers: Int { get }
  var numAttentionHeads: Int { get }
  var numKeyValueHeads: Int? { get }
  var headDim: Int? { get }
  var hiddenAct: String { get }
  var maxPositionEmbeddings: Int { get }
  var useSlidingWindow: Bool { get }
  var ropeTheta: Double? { get }
  var ropeParameters: Qwen3Config.RopeParameters? { get }
  var ropeScaling: Qwen3Config.RopeParameters? { get }
}

extension TransformersDecoderConfig {
  /// null or absent num_key_value_heads: num_attention_heads.
  var kvHeads: Int { numKeyValueHeads ?? numAttentionHeads }
  /// null or absent head_dim: hidden_size / num_attention_heads.
  var resolvedHeadDim: Int { headDim ?? hiddenSize / max(numAttentionHeads, 1) }
  /// The RoPE base: rope_scaling (which transformers lets override rope_parameters), then
  /// rope_parameters, then rope_theta, then 10000.
  var resolvedRopeTheta: Double { (ropeScaling ?? ropeParameters)?.ropeTheta ?? ropeTheta ?? 10000 }

  /// Refuses what the decoder stack cannot run, naming the key and the `builder`.
  func validateSharedKeys(builder: String) throws {
    try requirePositive([
      "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
      "num_hidden_layers": numHiddenLayers, "num_attention_heads": numAttentionHeads,
      "num_key_value_heads": kvHeads, "head_dim": resolvedHeadDim,
      "max_position_embeddings": maxPositionEmbeddings,
    ])
    guard numAttentionHeads % kvHeads == 0 else {
      throw PluginError.invalidArgument(
        "config.json: num_attention_heads (\(numAttentionHeads)) must be a multiple of num_key_value_heads (\(kvHeads))")
    }
    guard resolvedHeadDim % 2 == 0 else {
      throw PluginError.invalidArgument("config.json: head_dim (\(resolvedHeadDim)) must be even for rotary embeddings")
    }
    guard hiddenAct == "silu" || hiddenAct == "swish" else {
      throw PluginError.invalidArgument("config.json key 'hidden_act' is '\(hiddenAct)'; the \(builder) builder supports only 'silu'")
    }
    guard !useSlidingWindow else {
      throw PluginError.invalidArgument(
        "config.json sets use_sliding_window: true; sliding-window attention is not implemented by the \(builder) builder")
    }
    if let rope = ropeScaling ?? ropeParameters {
      let kind = rope.ropeType ?? rope.type ?? "default"
      guard kind == "default" else {
        throw PluginError.invalidArgument(
          "config.json asks for rope type '\(kind)'; the \(builder) builder implements only the default rotary embedding")
      }
      guard (rope.partialRotaryFactor ?? 1) == 1 else {
        throw PluginError.invalidArgument("config.json sets partial_rotary_factor \(rope.partialRotaryFactor!); only 1 is supported")
      }
    }
    guard resolvedRopeTheta > 0 else { throw PluginError.invalidArgument("config.json: rope_theta must be positive") }
  }
}
