import ZooPluginKit
import ZooProto

/// The hyperparameters of one Sessa layer under the official constructor's argument
/// names and defaults (LibratioAI/sessa @ 7218005, sessa/layer.py `SessaLayer.__init__`),
/// so a `SessaLayer(...)` call's arguments, written as JSON, decode as they are.
public struct SessaLayerConfig: Codable, Equatable, Sendable {
  /// `D`: the model width.
  public var width: Int
  /// `n_heads`: query heads of the forward attention branch.
  public var heads = 1
  /// `n_kv_heads`: key/value heads (GQA); nil means `n_heads`.
  public var kvHeads: Int? = nil
  /// `max_len`: the official code's cache size; nil means unbounded.
  public var maxLength: Int? = nil
  /// `ln_eps`: LayerNorm epsilon.
  public var epsilon: Float = 1e-5
  /// `use_forward_rope`: RoPE (interleaved pairs) on the forward branch's q and k.
  public var useForwardRoPE = true
  /// `gamma_max`: bound of the per-token feedback gain, in (0, 1).
  public var gammaMax: Float = 0.999

  /// d = D / n_heads.
  public var headDim: Int { width / heads }
  /// Key/value heads after applying the default.
  public var kvHeadCount: Int { kvHeads ?? heads }
  /// Width of one position's forward keys (and values): n_kv_heads · d.
  public var kvWidth: Int { kvHeadCount * headDim }

  enum CodingKeys: String, CodingKey {
    case width = "D"
    case heads = "n_heads"
    case kvHeads = "n_kv_heads"
    case maxLength = "max_len"
    case epsilon = "ln_eps"
    case useForwardRoPE = "use_forward_rope"
    case gammaMax = "gamma_max"
    case useFlash = "use_flash"
  }

  public init(width: Int) { self.width = width }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = SessaLayerConfig(width: 0)
    width = try c.decode(Int.self, forKey: .width)
    heads = try c.value(.heads, default: d.heads)
    kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
    maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
    epsilon = try c.value(.epsilon, default: d.epsilon)
    useForwardRoPE = try c.value(.useForwardRoPE, default: d.useForwardRoPE)
    gammaMax = try c.value(.gammaMax, default: d.gammaMax)
    // use_flash only picks a CUDA kernel for the same attention; it is accepted and ignored.
    _ = try c.decodeIfPresent(Bool.self, forKey: .useFlash)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(width, forKey: .width)
    try c.encode(heads, forKey: .heads)
    try c.encodeIfPresent(kvHeads, forKey: .kvHeads)
    try c.encodeIfPresent(maxLength, forKey: .maxLength)
    try c.encode(epsilon, forKey: .epsilon)
    try c.encode(useForwardRoPE, forKey: .useForwardRoPE)
    try c.encode(gammaMax, forKey: .gammaMax)
  }

  /// Refuses what the official constructor refuses (SessaMixer.__init__), naming the
  /// config key `names` maps each argument to.
  func validate(names: [String: String] = [:]) throws {
    func key(_ official: String) -> String { names[official] ?? official }
    func fail(_ official: String, _ why: String) -> PluginError {
      .invalidArgument("config.json key '\(key(official))' \(why)")
    }
    guard width > 0 else { throw fail("D", "is \(width); it must be a positive integer") }
    guard heads > 0, width % heads == 0 else {
      throw fail("n_heads", "is \(heads); it must be positive and divide \(key("D")) = \(width)")
    }
    guard kvHeadCount > 0, kvHeadCount <= heads, heads % kvHeadCount == 0 else {
      throw fail("n_kv_heads", "is \(kvHeadCount); it must be in 1...\(heads) and divide \(key("n_heads")) = \(heads)")
    }
    guard !useForwardRoPE || headDim % 2 == 0 else {
      throw fail("n_heads", "gives head dim \(headDim), which must be even for RoPE over (even, odd) pairs")
    }
    guard gammaMax > 0, gammaMax < 1 else { throw fail("gamma_max", "is \(gammaMax); it must be in (0, 1)") }
    guard epsilon >= 0 else { throw fail("ln_eps", "is negative (\(epsilon))") }
    if let maxLength, maxLength <= 0 { throw fail("max_len", "is \(maxLength); it must be positive or null") }
  }

  /// The layer's constructor arguments, for the manifest's `sessa_layer` entry.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .required("D", .int, "Model width D."),
    .field("n_heads", .int, "1", "Query heads H of the forward attention; head dim d = D / H."),
    .field("n_kv_heads", .int, "null", "Key/value heads (GQA); null means n_heads."),
    .field("max_len", .int, "null", "Longest sequence (the official cache size); null means unbounded."),
    .field("ln_eps", .float, "1e-05", "LayerNorm epsilon."),
    .field("use_flash", .bool, "false", "Official CUDA FlashAttention switch; accepted and ignored (same math)."),
    .field("use_forward_rope", .bool, "true", "Interleaved-pair RoPE (base 10000) on the forward branch's q and k."),
    .field("gamma_max", .float, "0.999", "Bound of the feedback gain: γ_t = gamma_max · tanh(gamma_bias + ā_t · w)."),
  ]
}

/// config.json of zoo's Sessa language model (model_type "sessa"): an embedding, N
/// Sessa layers each optionally followed by an MLP block, a final LayerNorm and a head.
/// The official repository has only the layer; this model is zoo's, documented in the
/// plugin's README so models can be exported to it.
public struct SessaConfig: ModelConfiguration, Codable, Equatable, Sendable {
  /// `vocab_size`: rows of the embedding and the head.
  public var vocabSize: Int
  /// `hidden_size`: model width D (SessaLayer's `D`).
  public var hiddenSize: Int
  /// `num_hidden_layers`: number of Sessa layers.
  public var numHiddenLayers: Int
  /// `num_attention_heads`: SessaLayer's `n_heads`.
  public var numAttentionHeads = 1
  /// `num_key_value_heads`: SessaLayer's `n_kv_heads`; nil means num_attention_heads.
  public var numKeyValueHeads: Int? = nil
  /// `layer_norm_eps`: epsilon of every LayerNorm (SessaLayer's `ln_eps`).
  public var layerNormEps: Float = 1e-5
  /// `use_forward_rope`: SessaLayer's `use_forward_rope`.
  public var useForwardRoPE = true
  /// `gamma_max`: SessaLayer's `gamma_max`.
  public var gammaMax: Float = 0.999
  /// `intermediate_size`: width of the MLP block after each Sessa layer; 0 means none.
  public var intermediateSize = 0
  /// `max_position_embeddings`: longest sequence; nil means unbounded.
  public var maxPositionEmbeddings: Int? = nil
  /// `tie_word_embeddings`: informational; lm_head.weight is used when the checkpoint
  /// has it, the embedding otherwise.
  public var tieWordEmbeddings = false

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size"
    case hiddenSize = "hidden_size"
    case numHiddenLayers = "num_hidden_layers"
    case numAttentionHeads = "num_attention_heads"
    case numKeyValueHeads = "num_key_value_heads"
    case layerNormEps = "layer_norm_eps"
    case useForwardRoPE = "use_forward_rope"
    case gammaMax = "gamma_max"
    case intermediateSize = "intermediate_size"
    case maxPositionEmbeddings = "max_position_embeddings"
    case tieWordEmbeddings = "tie_word_embeddings"
    case modelType = "model_type"
  }

  public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int) {
    self.vocabSize = vocabSize
    self.hiddenSize = hiddenSize
    self.numHiddenLayers = numHiddenLayers
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = SessaConfig(vocabSize: 0, hiddenSize: 0, numHiddenLayers: 0)
    vocabSize = try c.decode(Int.self, forKey: .vocabSize)
    hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
    numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
    numAttentionHeads = try c.value(.numAttentionHeads, default: d.numAttentionHeads)
    numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
    layerNormEps = try c.value(.layerNormEps, default: d.layerNormEps)
    useForwardRoPE = try c.value(.useForwardRoPE, default: d.useForwardRoPE)
    gammaMax = try c.value(.gammaMax, default: d.gammaMax)
    intermediateSize = try c.value(.intermediateSize, default: d.intermediateSize)
    maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: d.tieWordEmbeddings)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode("sessa", forKey: .modelType)
    try c.encode(vocabSize, forKey: .vocabSize)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
    try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
    try c.encodeIfPresent(numKeyValueHeads, forKey: .numKeyValueHeads)
    try c.encode(layerNormEps, forKey: .layerNormEps)
    try c.encode(useForwardRoPE, forKey: .useForwardRoPE)
    try c.encode(gammaMax, forKey: .gammaMax)
    try c.encode(intermediateSize, forKey: .intermediateSize)
    try c.encodeIfPresent(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
    try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
  }

  /// The arguments of every layer's `SessaLayer(...)`.
  public var layer: SessaLayerConfig {
    var l = SessaLayerConfig(width: hiddenSize)
    l.heads = numAttentionHeads
    l.kvHeads = numKeyValueHeads
    l.maxLength = maxPositionEmbeddings
    l.epsilon = layerNormEps
    l.useForwardRoPE = useForwardRoPE
    l.gammaMax = gammaMax
    return l
  }

  /// Refuses configurations this implementation cannot run, naming the key.
  public func validate() throws {
    try requirePositive(["vocab_size": vocabSize, "num_hidden_layers": numHiddenLayers])
    guard intermediateSize >= 0 else {
      throw PluginError.invalidArgument(
        "config.json key 'intermediate_size' is \(intermediateSize); it must be 0 (no MLP) or positive")
    }
    try layer.validate(names: [
      "D": "hidden_size", "n_heads": "num_attention_heads", "n_kv_heads": "num_key_value_heads",
      "max_len": "max_position_embeddings", "ln_eps": "layer_norm_eps",
    ])
  }

  /// The keys the `sessa` builder reads, for the manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .required("vocab_size", .int, "Vocabulary size: rows of the embedding and the head."),
    .required("hidden_size", .int, "Model width D (SessaLayer's D)."),
    .required("num_hidden_layers", .int, "Number of Sessa layers."),
    .field("num_attention_heads", .int, "1", "Forward-attention query heads (SessaLayer's n_heads)."),
    .field("num_key_value_heads", .int, "null", "Key/value heads (n_kv_heads); null means num_attention_heads."),
    .field("layer_norm_eps", .float, "1e-05", "Epsilon of every LayerNorm (SessaLayer's ln_eps)."),
    .field("use_forward_rope", .bool, "true", "Interleaved-pair RoPE on the forward branch (use_forward_rope)."),
    .field("gamma_max", .float, "0.999", "Bound of the feedback gain (gamma_max), in (0, 1)."),
    .field(
      "intermediate_size", .int, "0", "Width of the GELU MLP block after each Sessa layer; 0 means no MLP blocks."),
    .field("max_position_embeddings", .int, "null", "Longest sequence served; null means unbounded."),
    .field(
      "tie_word_embeddings", .bool, "false",
      "Informational: zoo uses lm_head.weight when the checkpoint has it and the embedding otherwise."),
  ]
}
