import ZooPluginKit
import ZooProto

/// config.json of a Hugging Face `MambaForCausalLM` (model_type "mamba"), with the
/// defaults of transformers 5.23.0 `MambaConfig` for absent keys.
///
/// Like transformers, the inner width is always `expand · hidden_size`: a stored
/// `intermediate_size` is ignored (`MambaConfig.__post_init__` overwrites it).
public struct MambaConfig: ModelConfiguration, Codable, Equatable, Sendable {
  /// `vocab_size`: rows of the embedding and the LM head.
  public var vocabSize = 50280
  /// `hidden_size`: model width D.
  public var hiddenSize = 768
  /// `state_size`: SSM state size N per channel.
  public var stateSize = 16
  /// `num_hidden_layers`: number of blocks.
  public var numHiddenLayers = 32
  /// `layer_norm_epsilon`: epsilon of every RMSNorm.
  public var layerNormEpsilon: Float = 1e-5
  /// `expand`: E, with d_inner = E·D.
  public var expand = 2
  /// `conv_kernel`: K of the causal depthwise convolution.
  public var convKernel = 4
  /// `use_bias`: whether in_proj and out_proj have biases.
  public var useBias = false
  /// `use_conv_bias`: whether conv1d has a bias.
  public var useConvBias = true
  /// `hidden_act`: activation of the conv output and the gate (only "silu").
  public var hiddenAct = "silu"
  /// `residual_in_fp32`: read for completeness; zoo runs everything in float32.
  public var residualInFp32 = true
  /// `time_step_rank`: R, the rank of the Δ projection.
  public var timeStepRank = TimeStepRank.auto
  /// `tie_word_embeddings`: informational; lm_head.weight is used when present, the
  /// embedding otherwise.
  public var tieWordEmbeddings = true

  /// d_inner, the width of the SSM channels.
  public var intermediateSize: Int { expand * hiddenSize }
  /// R, the rank of the Δ projection.
  public var dtRank: Int { timeStepRank.resolved(hiddenSize: hiddenSize) }

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size", hiddenSize = "hidden_size", stateSize = "state_size"
    case numHiddenLayers = "num_hidden_layers", layerNormEpsilon = "layer_norm_epsilon"
    case expand, convKernel = "conv_kernel", useBias = "use_bias", useConvBias = "use_conv_bias"
    case hiddenAct = "hidden_act", residualInFp32 = "residual_in_fp32", timeStepRank = "time_step_rank"
    case tieWordEmbeddings = "tie_word_embeddings", intermediateSize = "intermediate_size"
    case modelType = "model_type"
  }

  /// transformers' defaults for every key.
  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = MambaConfig()
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    hiddenSize = try c.value(.hiddenSize, default: d.hiddenSize)
    stateSize = try c.value(.stateSize, default: d.stateSize)
    numHiddenLayers = try c.value(.numHiddenLayers, default: d.numHiddenLayers)
    layerNormEpsilon = try c.value(.layerNormEpsilon, default: d.layerNormEpsilon)
    expand = try c.value(.expand, default: d.expand)
    convKernel = try c.value(.convKernel, default: d.convKernel)
    useBias = try c.value(.useBias, default: d.useBias)
    useConvBias = try c.value(.useConvBias, default: d.useConvBias)
    hiddenAct = try c.value(.hiddenAct, default: d.hiddenAct)
    residualInFp32 = try c.value(.residualInFp32, default: d.residualInFp32)
    timeStepRank = try c.value(.timeStepRank, default: d.timeStepRank)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: d.tieWordEmbeddings)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode("mamba", forKey: .modelType)
    try c.encode(vocabSize, forKey: .vocabSize)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode(stateSize, forKey: .stateSize)
    try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
    try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
    try c.encode(expand, forKey: .expand)
    try c.encode(intermediateSize, forKey: .intermediateSize)
    try c.encode(convKernel, forKey: .convKernel)
    try c.encode(useBias, forKey: .useBias)
    try c.encode(useConvBias, forKey: .useConvBias)
    try c.encode(hiddenAct, forKey: .hiddenAct)
    try c.encode(residualInFp32, forKey: .residualInFp32)
    try c.encode(timeStepRank, forKey: .timeStepRank)
    try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
  }

  /// Refuses configurations this implementation cannot run, naming the key.
  public func validate() throws {
    try requirePositive([
      "vocab_size": vocabSize, "hidden_size": hiddenSize, "state_size": stateSize,
      "num_hidden_layers": numHiddenLayers, "expand": expand, "conv_kernel": convKernel,
      "time_step_rank": dtRank,
    ])
    guard layerNormEpsilon >= 0 else {
      throw PluginError.invalidArgument("config.json key 'layer_norm_epsilon' is negative (\(layerNormEpsilon))")
    }
    guard hiddenAct == "silu" || hiddenAct == "swish" else {
      throw PluginError.invalidArgument(
        "config.json key 'hidden_act' is '\(hiddenAct)'; the mamba builder supports only 'silu'")
    }
    // residual_in_fp32 changes nothing here: the whole model runs in float32.
  }

  /// The keys this builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("vocab_size", .int, "50280", "Vocabulary size: rows of the embedding and the LM head."),
    .field("hidden_size", .int, "768", "Model width D (residual stream)."),
    .field("state_size", .int, "16", "SSM state size N per channel."),
    .field("num_hidden_layers", .int, "32", "Number of Mamba blocks."),
    .field("layer_norm_epsilon", .float, "1e-05", "Epsilon of every RMSNorm."),
    .field("expand", .int, "2", "Inner width d_inner = expand · hidden_size (intermediate_size is derived, as in transformers)."),
    .field("conv_kernel", .int, "4", "Kernel size K of the causal depthwise convolution."),
    .field("use_bias", .bool, "false", "Whether in_proj and out_proj have biases."),
    .field("use_conv_bias", .bool, "true", "Whether conv1d has a bias."),
    .field("hidden_act", .string, "\"silu\"", "Activation of the conv output and the gate; only silu is supported."),
    .field("residual_in_fp32", .bool, "true", "Residual stream in float32 (always true here: everything is float32)."),
    .field("time_step_rank", .int, "\"auto\"", "Rank R of the Δ projection; \"auto\" means ceil(hidden_size / 16)."),
    .field("tie_word_embeddings", .bool, "true", "Tied head. zoo uses lm_head.weight when the checkpoint has it and the embedding otherwise, whatever this says."),
  ]
}
