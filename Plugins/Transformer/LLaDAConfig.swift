import ZooPluginKit
import ZooProto

/// config.json of LLaDA masked-diffusion LMs (model_type "llada"): the `ModelConfig` keys
/// of LLaDA's own modeling code (NVlabs/Fast-dLLM @ 24cc59e llada/model/configuration_llada.py,
/// as GSAI-ML/LLaDA-8B's config.json has them). Absent keys take that class's defaults;
/// options this implementation does not have are refused by name.
struct LLaDAConfig: ModelConfiguration, Decodable, Sendable {
  var dModel = 768
  var nHeads = 12
  /// null: n_heads.
  var nKvHeads: Int?
  var nLayers = 12
  var mlpRatio = 4
  /// null: mlp_ratio · d_model.
  var mlpHiddenSize: Int?
  /// Only "silu" (LLaDA-8B's: `ff_out(silu(ff_proj(x)) · up_proj(x))`).
  var activationType = "swiglu"
  /// Only "llama" (LLaDALlamaBlock).
  var blockType = "sequential"
  var rope = false
  var ropeTheta: Double = 10000
  /// Only "rms".
  var layerNormType = "default"
  var rmsNormEps: Float = 1e-5
  var includeBias = false
  var includeQkvBias = false
  var attentionLayerNorm = false
  var alibi = false
  var scaleLogits = false
  var inputEmbNorm = false
  var layerNormWithAffine = true
  var clipQkv: Double?
  var maxSequenceLength = 1024
  var vocabSize = 50257
  /// Rows of wte and ff_out (vocab_size padded); null: vocab_size.
  var embeddingSize: Int? = 50304
  var weightTying = true

  enum CodingKeys: String, CodingKey {
    case dModel = "d_model", nHeads = "n_heads", nKvHeads = "n_kv_heads", nLayers = "n_layers"
    case mlpRatio = "mlp_ratio", mlpHiddenSize = "mlp_hidden_size", activationType = "activation_type"
    case blockType = "block_type", rope, ropeTheta = "rope_theta", layerNormType = "layer_norm_type"
    case rmsNormEps = "rms_norm_eps", includeBias = "include_bias", includeQkvBias = "include_qkv_bias"
    case attentionLayerNorm = "attention_layer_norm", alibi, scaleLogits = "scale_logits"
    case inputEmbNorm = "input_emb_norm", layerNormWithAffine = "layer_norm_with_affine", clipQkv = "clip_qkv"
    case maxSequenceLength = "max_sequence_length", vocabSize = "vocab_size", embeddingSize = "embedding_size"
    case weightTying = "weight_tying"
  }

  init() {}

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = LLaDAConfig()
    dModel = try c.value(.dModel, default: d.dModel)
    nHeads = try c.value(.nHeads, default: d.nHeads)
    nKvHeads = try c.decodeIfPresent(Int.self, forKey: .nKvHeads)
    nLayers = try c.value(.nLayers, default: d.nLayers)
    mlpRatio = try c.value(.mlpRatio, default: d.mlpRatio)
    mlpHiddenSize = try c.decodeIfPresent(Int.self, forKey: .mlpHiddenSize)
    activationType = try c.value(.activationType, default: d.activationType)
    blockType = try c.value(.blockType, default: d.blockType)
    rope = try c.value(.rope, default: d.rope)
    ropeTheta = try c.value(.ropeTheta, default: d.ropeTheta)
    layerNormType = try c.value(.layerNormType, default: d.layerNormType)
    rmsNormEps = try c.value(.rmsNormEps, default: d.rmsNormEps)
    includeBias = try c.value(.includeBias, default: d.includeBias)
    includeQkvBias = try c.decodeIfPresent(Bool?.self, forKey: .includeQkvBias).flatMap { $0 } ?? d.includeQkvBias
    attentionLayerNorm = try c.value(.attentionLayerNorm, default: d.attentionLayerNorm)
    alibi = try c.value(.alibi, default: d.alibi)
    scaleLogits = try c.value(.scaleLogits, default: d.scaleLogits)
    inputEmbNorm = try c.value(.inputEmbNorm, default: d.inputEmbNorm)
    layerNormWithAffine = try c.value(.layerNormWithAffine, default: d.layerNormWithAffine)
    clipQkv = try c.decodeIfPresent(Double.self, forKey: .clipQkv)
    maxSequenceLength = try c.value(.maxSequenceLength, default: d.maxSequenceLength)
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    embeddingSize = c.contains(.embeddingSize) ? try c.decodeIfPresent(Int.self, forKey: .embeddingSize) : d.embeddingSize
    weightTying = try c.value(.weightTying, default: d.weightTying)
  }

  var kvHeads: Int { nKvHeads ?? nHeads }
  var headDim: Int { dModel / max(nHeads, 1) }
  var intermediate: Int { mlpHiddenSize ?? mlpRatio * dModel }
  /// Logit width: the embedding's rows.
  var rows: Int { max(embeddingSize ?? vocabSize, vocabSize) }

  /// Refuses what LLaDA's code allows but this implementation does not have, naming the key.
  func validate() throws {
    try requirePositive([
      "d_model": dModel, "n_heads": nHeads, "n_kv_heads": kvHeads, "n_layers": nLayers,
      "mlp_hidden_size": intermediate, "vocab_size": vocabSize, "max_sequence_length": maxSequenceLength,
    ])
    func refuse(_ key: String, _ value: Any, _ supported: String) -> PluginError {
      .invalidArgument("config.json key '\(key)' is \(value); the llada builder supports only \(supported)")
    }
    guard dModel % nHeads == 0, headDim % 2 == 0 else {
      throw PluginError.invalidArgument("config.json: d_model (\(dModel)) must split into n_heads (\(nHeads)) heads of even width")
    }
    guard nHeads % kvHeads == 0 else {
      throw PluginError.invalidArgument("config.json: n_heads (\(nHeads)) must be a multiple of n_kv_heads (\(kvHeads))")
    }
    guard blockType == "llama" else { throw refuse("block_type", "'\(blockType)'", "'llama' (LLaDALlamaBlock)") }
    guard activationType == "silu" else { throw refuse("activation_type", "'\(activationType)'", "'silu'") }
    guard layerNormType == "rms" else { throw refuse("layer_norm_type", "'\(layerNormType)'", "'rms'") }
    guard rope, !alibi else { throw refuse("rope/alibi", "rope \(rope), alibi \(alibi)", "rotary embeddings (rope true, alibi false)") }
    guard !includeBias else { throw refuse("include_bias", true, "false") }
    guard !attentionLayerNorm else { throw refuse("attention_layer_norm", true, "false") }
    guard !scaleLogits else { throw refuse("scale_logits", true, "false") }
    guard !inputEmbNorm else { throw refuse("input_emb_norm", true, "false") }
    guard layerNormWithAffine else { throw refuse("layer_norm_with_affine", false, "true") }
    guard clipQkv == nil else { throw refuse("clip_qkv", clipQkv!, "null") }
    guard ropeTheta > 0 else { throw PluginError.invalidArgument("config.json: rope_theta must be positive") }
  }

  /// The keys the llada builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("d_model", .int, "768", "Model width D."),
    .field("n_heads", .int, "12", "Query heads H (head width D / H)."),
    .field("n_kv_heads", .int, "null", "Key/value heads; null means n_heads."),
    .field("n_layers", .int, "12", "Number of LLaDALlamaBlock layers."),
    .field("mlp_ratio", .int, "4", "MLP width as a multiple of d_model, when mlp_hidden_size is null."),
    .field("mlp_hidden_size", .int, "null", "Inner width of ff_proj and up_proj."),
    .field("activation_type", .string, "\"swiglu\"", "Only \"silu\": ff_out(silu(ff_proj(x)) · up_proj(x))."),
    .field("block_type", .string, "\"sequential\"", "Only \"llama\"."),
    .field("rope", .bool, "false", "Rotary embeddings; must be true (alibi is not implemented)."),
    .field("rope_theta", .float, "10000.0", "RoPE base."),
    .field("layer_norm_type", .string, "\"default\"", "Only \"rms\" (RMSNorm with weight)."),
    .field("rms_norm_eps", .float, "1e-05", "Epsilon of every RMSNorm."),
    .field("include_bias", .bool, "false", "Biases on every linear layer; true is refused."),
    .field("include_qkv_bias", .bool, "false", "Biases on q_proj, k_proj and v_proj."),
    .field("max_sequence_length", .int, "1024", "Positions served."),
    .field("vocab_size", .int, "50257", "Tokens of the tokenizer."),
    .field("embedding_size", .int, "50304", "Rows of wte and ff_out (the logit width); null means vocab_size."),
    .field("weight_tying", .bool, "true", "ff_out is wte."),
    .field("mask_token_id", .int, "null", "The [MASK] token the diffusion decoders fill in (126336 in LLaDA-8B); absent, the model has none and they refuse it."),
  ]
}

/// Builds LLaDA masked-diffusion LMs (model_type "llada"): `LLaDAModelLM` with
/// `LLaDALlamaBlock`s (NVlabs/Fast-dLLM @ 24cc59e llada/model/modeling_llada.py, the code
/// GSAI-ML/LLaDA-8B ships): Llama's block under LLaDA's weight names, with no causal mask.
enum LLaDABuilder: ModelBuilder {
  static let names = DecoderWeightNames(
    embedding: "model.transformer.wte.weight", layer: { "model.transformer.blocks.\($0)" }, inputNorm: "attn_norm",
    attention: "", attentionNames: AttentionWeightNames(output: "attn_out"), postAttentionNorm: "ff_norm", mlp: "",
    mlpNames: (gate: "ff_proj", up: "up_proj", down: "ff_out"), finalNorm: "model.transformer.ln_f.weight",
    head: "model.transformer.ff_out.weight")

  static var declaration: Zoo_V1_ModelType {
    .decoderStack(
      "llada",
      "LLaDA masked-diffusion language model (LLaDAModelLM, LLaDALlamaBlock; NVlabs/Fast-dLLM llada/model/modeling_llada.py): RMSNorm, grouped-query attention with rotary embeddings and no causal mask, SwiGLU MLP (ff_proj, up_proj, ff_out), final ln_f and ff_out head; mask_token_id from config.json (126336 in the published models). Bidirectional mask only (served by the diffusion decoders).",
      causality: .bidirectional, config: LLaDAConfig.declaredFields,
      weights: names.declared(biases: true, qkNorm: false).filter { !$0.hasSuffix("attn_out.bias") })
  }

  static func load(_ context: ModelLoadContext) throws -> any Model {
    let c = try context.config(LLaDAConfig.self)
    let architecture = DecoderArchitecture(
      modelType: "llada", vocabulary: c.rows, hidden: c.dModel, intermediate: c.intermediate, layers: c.nLayers,
      attention: AttentionShape(
        hidden: c.dModel, heads: c.nHeads, kvHeads: c.kvHeads, headDim: c.headDim, qkvBias: c.includeQkvBias,
        outputBias: false, qkNorm: false, gate: .none, epsilon: c.rmsNormEps),
      ropeTheta: c.ropeTheta, maxPositions: c.maxSequenceLength, tiedHead: c.weightTying,
      maskKinds: [.bidirectional], names: names)
    return try DecoderTransformer(architecture, weights: context.weights)
  }
}
