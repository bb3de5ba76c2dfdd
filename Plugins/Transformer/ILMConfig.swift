import ZooPluginKit
import ZooProto

/// config.json of insertion language models (model_type "ilm"): the constructor arguments
/// of the official `RotaryTransformerILMModelWithStoppingClassification` (dhruvdcoder/ILM
/// @ 04f78bd src/pcdd/models/ilm.py), as its hydra model config names them, plus the
/// special token ids the official tokenizer supplies. Absent keys take that class's
/// defaults; what this implementation does not have is refused by name.
struct ILMConfig: ModelConfiguration, Decodable, Sendable {
  var numEmbeddings = 0
  var dModel = 768
  var numLayers = 12
  var nhead = 12
  /// null: 4 · d_model.
  var dimFeedforward: Int?
  /// Only "relu" (RotaryTransformerLayer also offers tanh-GELU; not implemented here).
  var activation = "relu"
  var layerNormEps: Float = 1e-5
  var rotaryEmbDim = 64
  var maxLength = 1024
  /// The stopping class's default is false: output_layer.norm_final exists.
  var finalLayerWithoutNormalization = false
  /// Token-type (constraint) embeddings as model input; refused (the forward contract has
  /// no per-token input besides ids and positions).
  var inputConstraint = false
  var paddingIdx = 0

  enum CodingKeys: String, CodingKey {
    case numEmbeddings = "num_embeddings", dModel = "d_model", numLayers = "num_layers", nhead
    case dimFeedforward = "dim_feedforward", activation, layerNormEps = "layer_norm_eps"
    case rotaryEmbDim = "rotary_emb_dim", maxLength = "max_length"
    case finalLayerWithoutNormalization = "final_layer_without_normalization", inputConstraint = "input_constraint"
    case paddingIdx = "padding_idx"
  }

  init() {}

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = ILMConfig()
    numEmbeddings = try c.value(.numEmbeddings, default: d.numEmbeddings)
    dModel = try c.value(.dModel, default: d.dModel)
    numLayers = try c.value(.numLayers, default: d.numLayers)
    nhead = try c.value(.nhead, default: d.nhead)
    dimFeedforward = try c.decodeIfPresent(Int.self, forKey: .dimFeedforward)
    activation = try c.value(.activation, default: d.activation)
    layerNormEps = try c.value(.layerNormEps, default: d.layerNormEps)
    rotaryEmbDim = try c.value(.rotaryEmbDim, default: d.rotaryEmbDim)
    maxLength = try c.value(.maxLength, default: d.maxLength)
    finalLayerWithoutNormalization = try c.value(
      .finalLayerWithoutNormalization, default: d.finalLayerWithoutNormalization)
    inputConstraint = try c.value(.inputConstraint, default: d.inputConstraint)
    paddingIdx = try c.value(.paddingIdx, default: d.paddingIdx)
  }

  var headDim: Int { dModel / max(nhead, 1) }
  var feedforward: Int { dimFeedforward ?? 4 * dModel }

  func validate() throws {
    try requirePositive([
      "num_embeddings": numEmbeddings, "d_model": dModel, "num_layers": numLayers, "nhead": nhead,
      "dim_feedforward": feedforward, "rotary_emb_dim": rotaryEmbDim, "max_length": maxLength,
    ])
    guard dModel % nhead == 0 else {
      throw PluginError.invalidArgument("config.json: d_model (\(dModel)) must split into nhead (\(nhead)) equal heads")
    }
    guard rotaryEmbDim <= headDim, rotaryEmbDim % 2 == 0 else {
      throw PluginError.invalidArgument(
        "config.json key 'rotary_emb_dim' is \(rotaryEmbDim); it must be even and at most the head width \(headDim)")
    }
    guard activation == "relu" else {
      throw PluginError.invalidArgument("config.json key 'activation' is '\(activation)'; the ilm builder supports only 'relu'")
    }
    guard !inputConstraint else {
      throw PluginError.invalidArgument(
        "config.json key 'input_constraint' is true; the ilm builder serves models without constraint embeddings only (the forward call carries no token types)")
    }
    guard (0..<numEmbeddings).contains(paddingIdx) else {
      throw PluginError.invalidArgument("config.json key 'padding_idx' is \(paddingIdx); it must be a token id below num_embeddings")
    }
  }

  /// The keys the ilm builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("num_embeddings", .int, "0", "Vocabulary including special tokens: rows of embed_tokens and of the insertion head."),
    .field("d_model", .int, "768", "Model width D."),
    .field("num_layers", .int, "12", "RotaryTransformerLayer blocks."),
    .field("nhead", .int, "12", "Attention heads (head width D / nhead)."),
    .field("dim_feedforward", .int, "null", "MLP width; null means 4·D."),
    .field("activation", .string, "\"relu\"", "MLP activation; only \"relu\"."),
    .field("layer_norm_eps", .float, "1e-05", "Epsilon of every LayerNorm."),
    .field("rotary_emb_dim", .int, "64", "Leading dimensions of each head that RoPE rotates (rotate-half, base 10000)."),
    .field("max_length", .int, "1024", "Positions served."),
    .field("final_layer_without_normalization", .bool, "false", "No LayerNorm (output_layer.norm_final) before the insertion head."),
    .field("input_constraint", .bool, "false", "Constraint type embeddings as input; only false is served."),
    .field("padding_idx", .int, "0", "The padding token."),
    .field("cls_token_id", .int, "null", "The [CLS] token the stop head reads; the ilm decoder puts it first."),
    .field("bos_token_id", .int, "null", "The [BOS] token after [CLS]; insertions right after it start the text."),
  ]
}
