import ZooPluginKit
import ZooProto

/// config.json of a BERT encoder (model_type "bert"), with the defaults of transformers
/// 5.23.0 `BertConfig` for absent keys. Dropout, initialisation and decoder-only keys
/// are not read.
public struct BertConfig: ModelConfiguration, Codable, Equatable, Sendable {
  /// `vocab_size`: rows of the word embedding.
  public var vocabSize = 30522
  /// `hidden_size`: model width D.
  public var hiddenSize = 768
  /// `num_hidden_layers`: encoder layers.
  public var numHiddenLayers = 12
  /// `num_attention_heads`: heads; head width is D / heads.
  public var numAttentionHeads = 12
  /// `intermediate_size`: width of the intermediate dense layer.
  public var intermediateSize = 3072
  /// `hidden_act`: activation of the intermediate layer and the MLM transform (only
  /// "gelu", the exact erf form).
  public var hiddenAct = "gelu"
  /// `max_position_embeddings`: rows of the learned position table.
  public var maxPositionEmbeddings = 512
  /// `type_vocab_size`: rows of the token-type table (zoo always uses type 0).
  public var typeVocabSize = 2
  /// `layer_norm_eps`: epsilon of every LayerNorm.
  public var layerNormEps: Float = 1e-12
  /// `position_embedding_type`: only "absolute" (older transformers also knew relative
  /// kinds; 5.x has only absolute).
  public var positionEmbeddingType = "absolute"
  /// `tie_word_embeddings`: the MLM decoder is the word embedding (it is also used when
  /// cls.predictions.decoder.weight is absent).
  public var tieWordEmbeddings = true

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
    case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
    case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
    case layerNormEps = "layer_norm_eps", positionEmbeddingType = "position_embedding_type"
    case tieWordEmbeddings = "tie_word_embeddings"
  }

  /// transformers' defaults for every key.
  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = BertConfig()
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    hiddenSize = try c.value(.hiddenSize, default: d.hiddenSize)
    numHiddenLayers = try c.value(.numHiddenLayers, default: d.numHiddenLayers)
    numAttentionHeads = try c.value(.numAttentionHeads, default: d.numAttentionHeads)
    intermediateSize = try c.value(.intermediateSize, default: d.intermediateSize)
    hiddenAct = try c.value(.hiddenAct, default: d.hiddenAct)
    maxPositionEmbeddings = try c.value(.maxPositionEmbeddings, default: d.maxPositionEmbeddings)
    typeVocabSize = try c.value(.typeVocabSize, default: d.typeVocabSize)
    layerNormEps = try c.value(.layerNormEps, default: d.layerNormEps)
    positionEmbeddingType = try c.value(.positionEmbeddingType, default: d.positionEmbeddingType)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: d.tieWordEmbeddings)
  }

  /// Refuses configurations this implementation cannot run, naming the key.
  public func validate() throws {
    try requirePositive([
      "vocab_size": vocabSize, "hidden_size": hiddenSize, "num_hidden_layers": numHiddenLayers,
      "num_attention_heads": numAttentionHeads, "intermediate_size": intermediateSize,
      "max_position_embeddings": maxPositionEmbeddings, "type_vocab_size": typeVocabSize,
    ])
    guard hiddenSize % numAttentionHeads == 0 else {
      throw PluginError.invalidArgument(
        "config.json: hidden_size (\(hiddenSize)) must be a multiple of num_attention_heads (\(numAttentionHeads))")
    }
    guard hiddenAct == "gelu" else {
      throw PluginError.invalidArgument(
        "config.json key 'hidden_act' is '\(hiddenAct)'; the bert builder supports only 'gelu' (exact erf GELU)")
    }
    guard positionEmbeddingType == "absolute" else {
      throw PluginError.invalidArgument(
        "config.json key 'position_embedding_type' is '\(positionEmbeddingType)'; the bert builder supports only 'absolute'")
    }
  }

  /// The keys this builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("vocab_size", .int, "30522", "Vocabulary size: rows of the word embedding (and the MLM decoder)."),
    .field("hidden_size", .int, "768", "Model width D; head width is D / num_attention_heads."),
    .field("num_hidden_layers", .int, "12", "Number of encoder layers."),
    .field("num_attention_heads", .int, "12", "Attention heads."),
    .field("intermediate_size", .int, "3072", "Width of the intermediate (GELU) layer."),
    .field("hidden_act", .string, "\"gelu\"", "Activation; only the exact erf GELU is supported."),
    .field("max_position_embeddings", .int, "512", "Rows of the learned position table (the model's max_positions)."),
    .field("type_vocab_size", .int, "2", "Rows of the token-type table; zoo uses type 0 for every token."),
    .field("layer_norm_eps", .float, "1e-12", "Epsilon of every LayerNorm."),
    .field("position_embedding_type", .string, "\"absolute\"", "Only absolute (learned) positions are supported."),
    .field("tie_word_embeddings", .bool, "true", "The MLM decoder is the word embedding (also used when cls.predictions.decoder.weight is absent)."),
  ]
}
