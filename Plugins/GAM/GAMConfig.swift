import ZooPluginKit
import ZooProto

/// config.json of a GAM model (model_type "gam"): the fields of the official `ModelConfig`
/// dataclass (rishiraj/gam @ 2ebb82e, gam_model.py), under their official upper-case
/// names, which `GAM_Model(config)` reads. Absent keys take `ModelConfig`'s defaults, so a
/// trained model exports as `dataclasses.asdict(config)` plus `"model_type": "gam"`.
public struct GAMConfig: ModelConfiguration, Codable, Equatable, Sendable {
  /// `VOCAB_SIZE`: rows of the token embedding (and of the tied head).
  public var vocabSize = 10000
  /// `BLOCK_SIZE`: rows of the learned position table, so the longest sequence.
  public var blockSize = 256
  /// `N_EMBED`: model width D.
  public var embeddingSize = 512
  /// `N_LAYER`: number of GAM blocks.
  public var layerCount = 6
  /// `DROPOUT`: training only; inference (the official `eval()`) ignores it.
  public var dropout = 0.1
  /// `NUM_MEMORY_SLOTS`: rows S of each block's memory bank.
  public var memorySlots = 512
  /// `CONV_KERNEL_SIZE`: taps k of the causal depthwise convolution.
  public var convKernelSize = 3

  /// nn.LayerNorm's default epsilon; GAM_Model does not change it and ModelConfig has no
  /// field for it.
  static let layerNormEpsilon: Float = 1e-5

  enum CodingKeys: String, CodingKey {
    case vocabSize = "VOCAB_SIZE", blockSize = "BLOCK_SIZE", embeddingSize = "N_EMBED", layerCount = "N_LAYER"
    case dropout = "DROPOUT", memorySlots = "NUM_MEMORY_SLOTS", convKernelSize = "CONV_KERNEL_SIZE"
    case modelType = "model_type"
  }

  /// ModelConfig's defaults for every field.
  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = GAMConfig()
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    blockSize = try c.value(.blockSize, default: d.blockSize)
    embeddingSize = try c.value(.embeddingSize, default: d.embeddingSize)
    layerCount = try c.value(.layerCount, default: d.layerCount)
    dropout = try c.value(.dropout, default: d.dropout)
    memorySlots = try c.value(.memorySlots, default: d.memorySlots)
    convKernelSize = try c.value(.convKernelSize, default: d.convKernelSize)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode("gam", forKey: .modelType)
    try c.encode(vocabSize, forKey: .vocabSize)
    try c.encode(blockSize, forKey: .blockSize)
    try c.encode(embeddingSize, forKey: .embeddingSize)
    try c.encode(layerCount, forKey: .layerCount)
    try c.encode(dropout, forKey: .dropout)
    try c.encode(memorySlots, forKey: .memorySlots)
    try c.encode(convKernelSize, forKey: .convKernelSize)
  }

  /// Refuses configurations the model cannot be built from, naming the key.
  public func validate() throws {
    try requirePositive([
      "VOCAB_SIZE": vocabSize, "BLOCK_SIZE": blockSize, "N_EMBED": embeddingSize, "N_LAYER": layerCount,
      "NUM_MEMORY_SLOTS": memorySlots, "CONV_KERNEL_SIZE": convKernelSize,
    ])
  }

  /// The keys the builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("VOCAB_SIZE", .int, "10000", "Vocabulary size: rows of token_embedding.weight and of the tied head."),
    .field("BLOCK_SIZE", .int, "256", "Rows of the learned position table: sequences are at most this long (longer ones are refused, not clamped)."),
    .field("N_EMBED", .int, "512", "Model width D."),
    .field("N_LAYER", .int, "6", "Number of GAM blocks."),
    .field("DROPOUT", .float, "0.1", "Dropout rate; used in training only, ignored at inference."),
    .field("NUM_MEMORY_SLOTS", .int, "512", "Slots S of each block's memory bank."),
    .field("CONV_KERNEL_SIZE", .int, "3", "Taps k of the causal depthwise convolution."),
  ]

  /// The fields that shape one block (the rest belong to the surrounding model).
  static var blockFields: [Zoo_V1_ConfigField] {
    declaredFields.filter { ["N_EMBED", "DROPOUT", "NUM_MEMORY_SLOTS", "CONV_KERNEL_SIZE"].contains($0.name) }
  }
}
