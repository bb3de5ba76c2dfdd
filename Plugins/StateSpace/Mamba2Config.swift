import ZooPluginKit
import ZooProto

/// config.json of a Hugging Face `Mamba2ForCausalLM` (model_type "mamba2"), with the
/// defaults of transformers 5.23.0 `Mamba2Config` for absent keys.
///
/// `time_step_limit` is stored by transformers 5 as `[0.0, {"__float__": "Infinity"}]`.
public struct Mamba2Config: ModelConfiguration, Codable, Equatable, Sendable {
  /// `num_heads`: H.
  public var numHeads = 128
  /// `head_dim`: P, channels per head.
  public var headDim = 64
  /// `vocab_size`: rows of the embedding and the LM head.
  public var vocabSize = 32768
  /// `hidden_size`: model width D.
  public var hiddenSize = 4096
  /// `state_size`: SSM state size N per channel.
  public var stateSize = 128
  /// `num_hidden_layers`: number of blocks.
  public var numHiddenLayers = 64
  /// `layer_norm_epsilon`: epsilon of every RMSNorm.
  public var layerNormEpsilon: Float = 1e-5
  /// `expand`: E, with d_inner = E·D.
  public var expand = 2
  /// `conv_kernel`: K of the causal depthwise convolution.
  public var convKernel = 4
  /// `n_groups`: G, groups of B/C and of the gated RMSNorm.
  public var nGroups = 8
  /// `use_bias`: whether in_proj and out_proj have biases.
  public var useBias = false
  /// `use_conv_bias`: whether conv1d has a bias.
  public var useConvBias = true
  /// `hidden_act`: activation of the conv output and the gate (only "silu").
  public var hiddenAct = "silu"
  /// `residual_in_fp32`: read for completeness; zoo runs everything in float32.
  public var residualInFp32 = true
  /// `time_step_limit`: [min, max] bounds of Δ after softplus.
  public var timeStepLimit: [ConfigFloat] = [ConfigFloat(0), ConfigFloat(.infinity)]
  /// `chunk_size`: the reference's SSD chunk length; unused (zoo scans recurrently).
  public var chunkSize = 256
  /// `tie_word_embeddings`: informational; lm_head.weight is used when present, the
  /// embedding otherwise.
  public var tieWordEmbeddings = false

  /// d_inner = expand · hidden_size, which must equal num_heads · head_dim.
  public var intermediateSize: Int { expand * hiddenSize }
  /// Channels of the convolution: x, B and C together.
  public var convDim: Int { intermediateSize + 2 * nGroups * stateSize }
  /// Width of in_proj's output: [z | xBC | dt].
  public var inProjSize: Int { intermediateSize + convDim + numHeads }

  enum CodingKeys: String, CodingKey {
    case numHeads = "num_heads", headDim = "head_dim", vocabSize = "vocab_size", hiddenSize = "hidden_size"
    case stateSize = "state_size", numHiddenLayers = "num_hidden_layers", layerNormEpsilon = "layer_norm_epsilon"
    case expand, convKernel = "conv_kernel", nGroups = "n_groups", useBias = "use_bias"
    case useConvBias = "use_conv_bias", hiddenAct = "hidden_act", residualInFp32 = "residual_in_fp32"
    case timeStepLimit = "time_step_limit", chunkSize = "chunk_size", tieWordEmbeddings = "tie_word_embeddings"
    case modelType = "model_type"
  }

  /// transformers' defaults for every key.
  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = Mamba2Config()
    numHeads = try c.value(.numHeads, default: d.numHeads)
    headDim = try c.value(.headDim, default: d.headDim)
    vocabSize = try c.value(.vocabSize, default: d.vocabSize)
    hiddenSize = try c.value(.hiddenSize, default: d.hiddenSize)
    stateSize = try c.value(.stateSize, default: d.stateSize)
    numHiddenLayers = try c.value(.numHiddenLayers, default: d.numHiddenLayers)
    layerNormEpsilon = try c.value(.layerNormEpsilon, default: d.layerNormEpsilon)
    expand = try c.value(.expand, default: d.expand)
    convKernel = try c.value(.convKernel, default: d.convKernel)
    nGroups = try c.value(.nGroups, default: d.nGroups)
    useBias = try c.value(.useBias, default: d.useBias)
    useConvBias = try c.value(.useConvBias, default: d.useConvBias)
    hiddenAct = try c.value(.hiddenAct, default: d.hiddenAct)
    residualInFp32 = try c.value(.residualInFp32, default: d.residualInFp32)
    timeStepLimit = try c.value(.timeStepLimit, default: d.timeStepLimit)
    chunkSize = try c.value(.chunkSize, default: d.chunkSize)
    tieWordEmbeddings = try c.value(.tieWordEmbeddings, default: d.tieWordEmbeddings)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode("mamba2", forKey: .modelType)
    try c.encode(numHeads, forKey: .numHeads)
    try c.encode(headDim, forKey: .headDim)
    try c.encode(vocabSize, forKey: .vocabSize)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode(stateSize, forKey: .stateSize)
    try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
    try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
    try c.encode(expand, forKey: .expand)
    try c.encode(convKernel, forKey: .convKernel)
    try c.encode(nGroups, forKey: .nGroups)
    try c.encode(useBias, forKey: .useBias)
    try c.encode(useConvBias, forKey: .useConvBias)
    try c.encode(hiddenAct, forKey: .hiddenAct)
    try c.encode(residualInFp32, forKey: .residualInFp32)
    try c.encode(timeStepLimit, forKey: .timeStepLimit)
    try c.encode(chunkSize, forKey: .chunkSize)
    try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
  }

  /// Bounds applied to Δ after softplus, as float32.
  var timeStepBounds: (min: Float, max: Float) {
    (Float(timeStepLimit[0].value), Float(timeStepLimit[1].value))
  }

  /// Refuses configurations this implementation cannot run, naming the key.
  public func validate() throws {
    try requirePositive([
      "num_heads": numHeads, "head_dim": headDim, "vocab_size": vocabSize, "hidden_size": hiddenSize,
      "state_size": stateSize, "num_hidden_layers": numHiddenLayers, "expand": expand,
      "conv_kernel": convKernel, "n_groups": nGroups,
    ])
    guard intermediateSize == numHeads * headDim else {
      throw PluginError.invalidArgument(
        "config.json is inconsistent: hidden_size · expand = \(intermediateSize) but num_heads · head_dim = \(numHeads * headDim); they must be equal")
    }
    guard numHeads % nGroups == 0 else {
      throw PluginError.invalidArgument(
        "config.json key 'n_groups' (\(nGroups)) must divide num_heads (\(numHeads))")
    }
    guard timeStepLimit.count == 2, !timeStepLimit[0].value.isNaN, !timeStepLimit[1].value.isNaN,
      timeStepLimit[0].value <= timeStepLimit[1].value
    else {
      throw PluginError.invalidArgument(
        "config.json key 'time_step_limit' must be [min, max] with min <= max, got \(timeStepLimit.map(\.value))")
    }
    guard layerNormEpsilon >= 0 else {
      throw PluginError.invalidArgument("config.json key 'layer_norm_epsilon' is negative (\(layerNormEpsilon))")
    }
    guard hiddenAct == "silu" || hiddenAct == "swish" else {
      throw PluginError.invalidArgument(
        "config.json key 'hidden_act' is '\(hiddenAct)'; the mamba2 builder supports only 'silu'")
    }
  }

  /// The keys this builder reads, for the plugin manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .field("num_heads", .int, "128", "SSM heads H; num_heads · head_dim must equal expand · hidden_size."),
    .field("head_dim", .int, "64", "Channels P per head."),
    .field("vocab_size", .int, "32768", "Vocabulary size: rows of the embedding and the LM head."),
    .field("hidden_size", .int, "4096", "Model width D (residual stream)."),
    .field("state_size", .int, "128", "SSM state size N."),
    .field("num_hidden_layers", .int, "64", "Number of Mamba-2 blocks."),
    .field("layer_norm_epsilon", .float, "1e-05", "Epsilon of every RMSNorm, including the gated one."),
    .field("expand", .int, "2", "Inner width d_inner = expand · hidden_size."),
    .field("conv_kernel", .int, "4", "Kernel size K of the causal depthwise convolution over x, B and C."),
    .field("n_groups", .int, "8", "Groups G of B and C (heads share them group-wise) and of the gated RMSNorm."),
    .field("use_bias", .bool, "false", "Whether in_proj and out_proj have biases."),
    .field("use_conv_bias", .bool, "true", "Whether conv1d has a bias."),
    .field("hidden_act", .string, "\"silu\"", "Activation of the conv output and the gate; only silu is supported."),
    .field("residual_in_fp32", .bool, "true", "Residual stream in float32 (always true here: everything is float32)."),
    .field("time_step_limit", .floatList, "[0.0, {\"__float__\": \"Infinity\"}]", "Bounds [min, max] applied to Δ after softplus."),
    .field("chunk_size", .int, "256", "Chunk length of the reference's chunked SSD scan; read but unused (zoo scans recurrently, which is exact)."),
    .field("tie_word_embeddings", .bool, "false", "Tied head. zoo uses lm_head.weight when the checkpoint has it and the embedding otherwise, whatever this says."),
  ]
}
