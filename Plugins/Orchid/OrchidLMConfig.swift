import ZooPluginKit
import ZooProto

/// config.json of an `orchid` causal language model. zoo defines this model type (the
/// official code has no language model): the operator keys are the official constructor's
/// (`OrchidOperatorConfig`, at the top level of config.json), the model keys follow the
/// Hyena / safari convention (`d_model`, `n_layer`, `d_inner`).
public struct OrchidLMConfig: Equatable, Sendable {
  /// The operator of every block (its `causal` key is not read: blocks use zoo's causal variant).
  public var mixer: OrchidOperatorConfig
  /// `vocab_size`: rows of the embedding and the head (256 for byte-level models).
  public var vocabSize = 256
  /// `n_layer`: number of blocks.
  public var nLayer = 4
  /// `d_inner`: hidden width of each block's MLP; null or absent means 4·d_model.
  public var dInner: Int
  /// `layer_norm_epsilon`: ε of every LayerNorm.
  public var layerNormEpsilon: Float = 1e-5
  /// `tie_word_embeddings`: informational; lm_head.weight is used when present, the
  /// embedding otherwise.
  public var tieWordEmbeddings = true

  var dModel: Int { mixer.dModel }

  /// Refuses what this implementation does not compute, naming the key.
  public func validate() throws {
    try mixer.validate()
    try requirePositive(["vocab_size": vocabSize, "n_layer": nLayer, "d_inner": dInner])
    guard layerNormEpsilon >= 0 else {
      throw PluginError.invalidArgument("config.json key 'layer_norm_epsilon' is negative (\(layerNormEpsilon))")
    }
  }

  /// The model's own keys, for the manifest (the operator's follow).
  static let declaredFields: [Zoo_V1_ConfigField] =
    [
      .field("vocab_size", .int, "256", "Vocabulary size: rows of the embedding and the head."),
      .field("n_layer", .int, "4", "Number of blocks."),
      .field("d_inner", .int, "null", "Hidden width of each block's MLP; null means 4·d_model."),
      .field("layer_norm_epsilon", .float, "1e-05", "ε of every LayerNorm."),
      .field("tie_word_embeddings", .bool, "true", "Tied head. zoo uses lm_head.weight when the checkpoint has it and the embedding otherwise."),
    ] + OrchidOperatorConfig.declaredFields.filter { $0.name != "causal" }
}

extension OrchidLMConfig: ModelConfiguration {
  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size", nLayer = "n_layer", dInner = "d_inner", layerNormEpsilon = "layer_norm_epsilon"
    case tieWordEmbeddings = "tie_word_embeddings"
  }

  public init(from decoder: any Decoder) throws {
    mixer = try OrchidOperatorConfig(from: decoder)
    let c = try decoder.container(keyedBy: CodingKeys.self)
    dInner = try c.decodeIfPresent(Int.self, forKey: .dInner) ?? 4 * mixer.dModel
    vocabSize = try c.value(.vocabSize, default: vocabSize)
    nLayer = try c.value(.nLayer, default: nLayer)
    layerNormEpsilon = try c.value(.layerNormEpsilon, default: layerNormEpsilon)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: tieWordEmbeddings)
  }
}
