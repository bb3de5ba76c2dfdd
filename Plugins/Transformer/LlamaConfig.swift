import ZooPluginKit
import ZooProto

/// config.json of the Llama-layout families: Hugging Face transformers 5.25.0
/// `LlamaConfig` (model_type "llama"), `Qwen2Config` ("qwen2"), and Dream's `DreamConfig`
/// ("Dream": Qwen2's keys plus mask_token_id; Dream-org/Dream-v0 configuration_dream.py).
/// Absent keys take that family's transformers defaults, picked by `model_type`.
struct LlamaConfig: TransformersDecoderConfig, Decodable, Sendable {
  /// `model_type`, lower-cased ("llama", "qwen2", "dream").
  var modelType = "llama"
  var vocabSize = 32000
  var hiddenSize = 4096
  var intermediateSize = 11008
  var numHiddenLayers = 32
  var numAttentionHeads = 32
  /// null or absent: num_attention_heads.
  var numKeyValueHeads: Int?
  /// null or absent: hidden_size / num_attention_heads.
  var headDim: Int?
  var hiddenAct = "silu"
  var maxPositionEmbeddings = 2048
  var rmsNormEps: Float = 1e-6
  var tieWordEmbeddings = false
  var ropeTheta: Double?
  var ropeParameters: Qwen3Config.RopeParameters?
  var ropeScaling: Qwen3Config.RopeParameters?
  /// Llama: biases on q, k, v and o. Qwen2 and Dream always have q/k/v biases and no o bias.
  var attentionBias = false
  /// Llama: biases in the MLP; true is refused.
  var mlpBias = false
  var useSlidingWindow = false

  enum CodingKeys: String, CodingKey {
    case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
    case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
    case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
    case hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps"
    case tieWordEmbeddings = "tie_word_embeddings", ropeTheta = "rope_theta", ropeParameters = "rope_parameters"
    case ropeScaling = "rope_scaling", attentionBias = "attention_bias", mlpBias = "mlp_bias"
    case useSlidingWindow = "use_sliding_window"
  }

  /// transformers' defaults of the family `modelType`.
  init(family modelType: String = "llama") {
    self.modelType = modelType
    if modelType != "llama" {  // Qwen2Config and DreamConfig
      vocabSize = 151_936
      intermediateSize = 22016
      numKeyValueHeads = 32
      maxPositionEmbeddings = 32768
    }
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = LlamaConfig(family: (try c.value(.modelType, default: "llama")).lowercased())
    modelType = d.modelType
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    hiddenSize = try c.value(.hiddenSize, default: d.hiddenSize)
    intermediateSize = try c.value(.intermediateSize, default: d.intermediateSize)
    numHiddenLayers = try c.value(.numHiddenLayers, default: d.numHiddenLayers)
    numAttentionHeads = try c.value(.numAttentionHeads, default: d.numAttentionHeads)
    numKeyValueHeads = c.contains(.numKeyValueHeads) ? try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) : d.numKeyValueHeads
    headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
    hiddenAct = try c.value(.hiddenAct, default: d.hiddenAct)
    maxPositionEmbeddings = try c.value(.maxPositionEmbeddings, default: d.maxPositionEmbeddings)
    rmsNormEps = try c.value(.rmsNormEps, default: d.rmsNormEps)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: d.tieWordEmbeddings)
    ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
    ropeParameters = try c.decodeIfPresent(Qwen3Config.RopeParameters.self, forKey: .ropeParameters)
    ropeScaling = try c.decodeIfPresent(Qwen3Config.RopeParameters.self, forKey: .ropeScaling)
    attentionBias = try c.value(.attentionBias, default: d.attentionBias)
    mlpBias = try c.value(.mlpBias, default: d.mlpBias)
    useSlidingWindow = try c.value(.useSlidingWindow, default: d.useSlidingWindow)
  }

  /// Qwen2's layout (Qwen2 and Dream): q/k/v biases, none on o_proj.
  var isQwen2Layout: Bool { modelType != "llama" }

  /// Refuses configurations this implementation cannot run, naming the key.
  func validate() throws {
    try validateSharedKeys(builder: modelType)
    guard !mlpBias else { throw PluginError.invalidArgument("config.json sets mlp_bias: true; MLP biases are not implemented") }
  }

  /// The architecture these keys describe, served under `maskKinds`.
  func architecture(maskKinds: Set<MaskKind>, shiftsLogits: Bool = false) -> DecoderArchitecture {
    DecoderArchitecture(
      modelType: modelType, vocabulary: vocabSize, hidden: hiddenSize, intermediate: intermediateSize,
      layers: numHiddenLayers,
      attention: AttentionShape(
        hidden: hiddenSize, heads: numAttentionHeads, kvHeads: kvHeads, headDim: resolvedHeadDim,
        qkvBias: isQwen2Layout || attentionBias, outputBias: !isQwen2Layout && attentionBias, qkNorm: false,
        gate: .none, epsilon: rmsNormEps),
      ropeTheta: resolvedRopeTheta, maxPositions: maxPositionEmbeddings, tiedHead: tieWordEmbeddings,
      maskKinds: maskKinds, shiftsLogits: shiftsLogits)
  }

  /// The keys the llama, qwen2 and dream builders read, for the plugin manifest.
  static func declaredFields(family: String) -> [Zoo_V1_ConfigField] {
    let d = LlamaConfig(family: family)
    var fields: [Zoo_V1_ConfigField] = [
      .field("vocab_size", .int, "\(d.vocabSize)", "Vocabulary size: rows of the embedding and the LM head."),
      .field("hidden_size", .int, "\(d.hiddenSize)", "Model width D."),
      .field("intermediate_size", .int, "\(d.intermediateSize)", "SwiGLU inner width."),
      .field("num_hidden_layers", .int, "\(d.numHiddenLayers)", "Number of decoder layers."),
      .field("num_attention_heads", .int, "\(d.numAttentionHeads)", "Query heads H."),
      .field("num_key_value_heads", .int, d.numKeyValueHeads.map { "\($0)" } ?? "null", "Key/value heads (grouped-query attention); null means num_attention_heads."),
      .field("head_dim", .int, "null", "Width of one head; null means hidden_size / num_attention_heads."),
      .field("hidden_act", .string, "\"silu\"", "MLP activation; only silu is supported."),
      .field("max_position_embeddings", .int, "\(d.maxPositionEmbeddings)", "Positions served (the model's max_positions)."),
      .field("rms_norm_eps", .float, "1e-06", "Epsilon of every RMSNorm."),
      .field("tie_word_embeddings", .bool, "false", "The LM head is the embedding (also used when lm_head.weight is absent)."),
      .field("rope_theta", .float, "10000.0", "RoPE base (or rope_parameters.rope_theta / rope_scaling.rope_theta); only the default rope type is supported."),
    ]
    if family == "llama" {
      fields.append(.field("attention_bias", .bool, "false", "Biases on q_proj, k_proj, v_proj and o_proj."))
      fields.append(.field("mlp_bias", .bool, "false", "Biases in the MLP; true is refused."))
    } else {
      fields.append(.field("use_sliding_window", .bool, "false", "Sliding-window attention; true is refused."))
    }
    if family == "dream" {
      fields.append(.field("mask_token_id", .int, "null", "The [MASK] token the diffusion decoders fill in (151666 in Dream-v0); absent, the model has none and they refuse it."))
    }
    return fields
  }
}
