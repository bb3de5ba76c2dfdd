import ZooPluginKit
import ZooProto

/// config.json of a Qwen3 causal LM (model_type "qwen3"): Hugging Face transformers
/// 5.23.0 `Qwen3Config`, plus the keys of the gated-attention variant
/// (github.com/qiuzh20/gated_attention `configuration_qwen3.py`: `use_qk_norm`,
/// `headwise_attn_output_gate`, `elementwise_attn_output_gate`, and `qkv_bias`, which its
/// attention reads instead of `attention_bias`). Absent keys take transformers' defaults.
public struct Qwen3Config: TransformersDecoderConfig, Codable, Equatable, Sendable {
  /// `vocab_size`: rows of the embedding and the LM head.
  public var vocabSize = 151_936
  /// `hidden_size`: model width D.
  public var hiddenSize = 4096
  /// `intermediate_size`: SwiGLU width I.
  public var intermediateSize = 22016
  /// `num_hidden_layers`: decoder layers.
  public var numHiddenLayers = 32
  /// `num_attention_heads`: query heads H.
  public var numAttentionHeads = 32
  /// `num_key_value_heads`: KV heads (GQA); null means H.
  public var numKeyValueHeads: Int? = 32
  /// `head_dim`: width of one head; null means D / H.
  public var headDim: Int? = 128
  /// `hidden_act`: the MLP activation (only "silu").
  public var hiddenAct = "silu"
  /// `max_position_embeddings`: positions the model serves.
  public var maxPositionEmbeddings = 32768
  /// `rms_norm_eps`: epsilon of every RMSNorm.
  public var rmsNormEps: Float = 1e-6
  /// `tie_word_embeddings`: the LM head is the embedding.
  public var tieWordEmbeddings = false
  /// `rope_theta`: RoPE base, when not inside `rope_parameters` / `rope_scaling`.
  public var ropeTheta: Double?
  /// `rope_parameters` (transformers 5) and `rope_scaling` (older files): only the
  /// default rope type is supported.
  public var ropeParameters: RopeParameters?
  public var ropeScaling: RopeParameters?
  /// `attention_bias`: q/k/v/o biases (Hugging Face Qwen3).
  public var attentionBias = false
  /// `qkv_bias`: q/k/v/o biases (gated-attention checkpoints); overrides attention_bias.
  public var qkvBias: Bool?
  /// `use_qk_norm`: RMSNorm of q and k per head before RoPE.
  public var useQkNorm = true
  /// `use_sliding_window`: refused when true (not implemented).
  public var useSlidingWindow = false
  /// `headwise_attn_output_gate`: one sigmoid gate per head after SDPA.
  public var headwiseAttnOutputGate = false
  /// `elementwise_attn_output_gate`: one sigmoid gate per head dimension after SDPA.
  public var elementwiseAttnOutputGate = false

  /// `rope_parameters` / `rope_scaling`.
  public struct RopeParameters: Codable, Equatable, Sendable {
    public var ropeType: String?
    public var type: String?
    public var ropeTheta: Double?
    public var partialRotaryFactor: Double?

    enum CodingKeys: String, CodingKey {
      case ropeType = "rope_type", type, ropeTheta = "rope_theta", partialRotaryFactor = "partial_rotary_factor"
    }
  }

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
    case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
    case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", hiddenAct = "hidden_act"
    case maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps"
    case tieWordEmbeddings = "tie_word_embeddings", ropeTheta = "rope_theta", ropeParameters = "rope_parameters"
    case ropeScaling = "rope_scaling", attentionBias = "attention_bias", qkvBias = "qkv_bias"
    case useQkNorm = "use_qk_norm", useSlidingWindow = "use_sliding_window"
    case headwiseAttnOutputGate = "headwise_attn_output_gate"
    case elementwiseAttnOutputGate = "elementwise_attn_output_gate"
  }

  /// transformers' defaults for every key.
  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = Qwen3Config()
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    hiddenSize = try c.value(.hiddenSize, default: d.hiddenSize)
    intermediateSize = try c.value(.intermediateSize, default: d.intermediateSize)
    numHiddenLayers = try c.value(.numHiddenLayers, default: d.numHiddenLayers)
    numAttentionHeads = try c.value(.numAttentionHeads, default: d.numAttentionHeads)
    // Absent: the class default; present but null: derived (as transformers does).
    numKeyValueHeads = c.contains(.numKeyValueHeads) ? try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) : d.numKeyValueHeads
    headDim = c.contains(.headDim) ? try c.decodeIfPresent(Int.self, forKey: .headDim) : d.headDim
    hiddenAct = try c.value(.hiddenAct, default: d.hiddenAct)
    maxPositionEmbeddings = try c.value(.maxPositionEmbeddings, default: d.maxPositionEmbeddings)
    rmsNormEps = try c.value(.rmsNormEps, default: d.rmsNormEps)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: d.tieWordEmbeddings)
    ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
    ropeParameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
    ropeScaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
    attentionBias = try c.value(.attentionBias, default: d.attentionBias)
    qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias)
    useQkNorm = try c.value(.useQkNorm, default: d.useQkNorm)
    useSlidingWindow = try c.value(.useSlidingWindow, default: d.useSlidingWindow)
    headwiseAttnOutputGate = try c.value(.headwiseAttnOutputGate, default: d.headwiseAttnOutputGate)
    elementwiseAttnOutputGate = try c.value(.elementwiseAttnOutputGate, default: d.elementwiseAttnOutputGate)
  }

  /// Whether q/k/v/o have biases: `qkv_bias` when present (the gated-attention code reads
  /// only it), else `attention_bias`.
  var projectionBias: Bool { qkvBias ?? attentionBias }
  /// The gate: headwise wins when both flags are set, as in the official code's if/elif.
  var gate: AttentionOutputGate {
    headwiseAttnOutputGate ? .headwise : elementwiseAttnOutputGate ? .elementwise : .none
  }

  /// Refuses configurations this implementation cannot run, naming the key.
  public func validate() throws { try validateSharedKeys(builder: "qwen3") }

  /// The keys this builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("vocab_size", .int, "151936", "Vocabulary size: rows of the embedding and the LM head."),
    .field("hidden_size", .int, "4096", "Model width D."),
    .field("intermediate_size", .int, "22016", "SwiGLU inner width."),
    .field("num_hidden_layers", .int, "32", "Number of decoder layers."),
    .field("num_attention_heads", .int, "32", "Query heads H."),
    .field("num_key_value_heads", .int, "32", "Key/value heads (grouped-query attention); null means num_attention_heads."),
    .field("head_dim", .int, "128", "Width of one head; null means hidden_size / num_attention_heads."),
    .field("hidden_act", .string, "\"silu\"", "MLP activation; only silu is supported."),
    .field("max_position_embeddings", .int, "32768", "Positions served (the model's max_positions)."),
    .field("rms_norm_eps", .float, "1e-06", "Epsilon of every RMSNorm (layers, q_norm, k_norm, final)."),
    .field("tie_word_embeddings", .bool, "false", "The LM head is the embedding (also used when lm_head.weight is absent)."),
    .field("rope_theta", .float, "10000.0", "RoPE base (or rope_parameters.rope_theta / rope_scaling.rope_theta); only the default rope type is supported."),
    .field("attention_bias", .bool, "false", "Biases on q_proj, k_proj, v_proj and o_proj (Hugging Face Qwen3)."),
    .field("qkv_bias", .bool, "false", "Biases on q_proj, k_proj, v_proj and o_proj in gated-attention checkpoints; when present it replaces attention_bias."),
    .field("use_qk_norm", .bool, "true", "RMSNorm over head_dim of q and k (q_norm, k_norm) before RoPE."),
    .field("use_sliding_window", .bool, "false", "Sliding-window attention; true is refused."),
    .field("headwise_attn_output_gate", .bool, "false", "Gated attention (Qiu et al. 2025): one sigmoid gate per head, q_proj gains H rows."),
    .field("elementwise_attn_output_gate", .bool, "false", "Gated attention: one sigmoid gate per head dimension, q_proj gains H·head_dim rows."),
  ]
}
