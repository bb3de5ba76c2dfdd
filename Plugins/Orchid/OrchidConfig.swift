import ZooPluginKit
import ZooProto

/// The configuration of one Orchid operator, under the official constructor's argument
/// names (Karami-m/orchid 061f6df, `OrchidOperator(d_model, l_max, ..., conv_kernel,
/// **filter_args)`), with the official defaults for absent keys.
///
/// Only the published Type I operator is implemented: order 2, chain "*-c-*", one head,
/// the 'fft' transform, the 'absfreq' / 'convtf' conditioning network with one
/// LayerNorm'd conv layer. Other values are refused by name. Keys that only affect
/// initialisation or training (`w`, `lr_pos_emb`, `filter_dropout`, the decay
/// percentages, `wd`, `lr`, `actchain`, which the official forward never applies) are
/// ignored: the values they produce are in the checkpoint.
public struct OrchidOperatorConfig: Equatable, Sendable {
  /// `d_model`: width D of the operator's input and output.
  public var dModel: Int
  /// `l_max`: rows of the positional features, so the static kernels' length.
  public var lMax = 128
  /// `filter_order`: width of the implicit filter MLP.
  public var filterOrder = 64
  /// `short_filter_order`: taps of the causal depthwise short conv over [x0 | x1 | v].
  public var shortFilterOrder = 3
  /// `order`: depth of the gating chain (only 2).
  public var order = 2
  /// `residual_long_conv`: "sconv" adds the static long convolution of the input.
  public var residualLongConv = "sconv"
  /// `emb_dim`: positional features per position (odd, at least 3).
  public var embDim = 3
  /// `num_inner_mlps`: hidden Linear+Sin layers of the implicit filter after the first.
  public var numInnerMlps = 2
  /// `w_mod`: constant factor inside the filter's Sin activations.
  public var wMod: Float = 1
  /// `modulate`: multiply the static kernels by exp(−t·|deltas|) + shift.
  public var modulate = true
  /// `shift`: added to the modulation's decay.
  public var shift: Float = 0
  /// `causal`: the conditioning network's output domain (`ConvKernel_Time_Frequency`'s
  /// flag, which does not make the operator causal): false adds the adaptive kernel in
  /// the frequency domain; true turns it into a time-domain kernel through a 2L
  /// transform, the official default. zoo defaults to false (see README).
  public var causal = false
  /// `conv_kernel`: the conditioning network.
  public var convKernel = ConditioningConfig()

  // Accepted only at their official defaults.
  var dxt = "fft"
  var numHeads = 1
  var chain = "*-c-*"
  var normalized = false
  var bidirectional = false
  var linearMixer = false

  /// A configuration with the official defaults for width `dModel`.
  public init(dModel: Int) { self.dModel = dModel }

  /// Whether the residual static long convolution is on (official: `in ['sconv']`).
  var hasResidualConvolution: Bool { residualLongConv == "sconv" }

  /// Refuses what this implementation does not compute, naming the key.
  public func validate() throws {
    for (key, value) in [
      ("d_model", dModel), ("l_max", lMax), ("filter_order", filterOrder), ("short_filter_order", shortFilterOrder),
      ("conv_kernel.conv_filter_size", convKernel.convFilterSize),
    ] where value <= 0 {
      throw PluginError.invalidArgument("config key '\(key)' is \(value); it must be a positive integer")
    }
    guard numInnerMlps >= 0 else {
      throw PluginError.invalidArgument("config key 'num_inner_mlps' is \(numInnerMlps); it must be 0 or more")
    }
    guard embDim >= 3, embDim % 2 == 1 else {
      throw PluginError.invalidArgument("config key 'emb_dim' is \(embDim); it must be odd and at least 3 (time, cosines, sines)")
    }
    // Symmetric padding keeps the length only for odd kernels (the official code would fail otherwise).
    guard convKernel.convFilterSize % 2 == 1 else {
      throw PluginError.invalidArgument(
        "config key 'conv_kernel.conv_filter_size' is \(convKernel.convFilterSize); the conditioning convolutions need an odd size")
    }
    let supported: [(String, String, String)] = [
      ("order", "\(order)", "2"), ("dxt", dxt, "fft"), ("num_heads", "\(numHeads)", "1"),
      ("normalized", "\(normalized)", "false"), ("bidirectional", "\(bidirectional)", "false"),
      ("linear_mixer", "\(linearMixer)", "false"), ("conv_kernel.type", convKernel.type, "absfreq"),
      ("conv_kernel.nn", convKernel.nn, "convtf"), ("conv_kernel.norm", convKernel.norm, "layernorm"),
      ("conv_kernel.n_layer", "\(convKernel.nLayer)", "1"), ("conv_kernel.padding_mode", convKernel.paddingMode, "zeros"),
    ]
    for (key, value, only) in supported where value != only {
      throw PluginError.invalidArgument(
        "config key '\(key)' is \(value); zoo implements the published Type I Orchid operator, which needs \(only)")
    }
    guard chain == "*-c-*" || chain == "*c*" else {
      throw PluginError.invalidArgument("config key 'chain' is '\(chain)'; the official operator accepts only '*-c-*' or '*c*'")
    }
  }

  /// The operator's config keys, for the manifest.
  static let declaredFields: [Zoo_V1_ConfigField] = [
    .required("d_model", .int, "Width D of the operator's input and output."),
    .field("l_max", .int, "128", "Rows of the positional features: the static kernels have l_max taps (zero beyond, as the official rfft(n=L) pads them)."),
    .field("filter_order", .int, "64", "Width of the implicit filter MLP."),
    .field("short_filter_order", .int, "3", "Taps of the causal depthwise short convolution over [x0 | x1 | v]."),
    .field("order", .int, "2", "Depth of the gating chain; only 2."),
    .field("residual_long_conv", .string, "\"sconv\"", "\"sconv\" adds the static long convolution of the input (fixed_conv_res); any other value leaves it out."),
    .field("emb_dim", .int, "3", "Positional features per position: t, then (emb_dim−1)/2 cosines and sines."),
    .field("num_inner_mlps", .int, "2", "Hidden Linear+Sin layers of the implicit filter after the first."),
    .field("w_mod", .float, "1", "Constant factor inside the filter's Sin activations."),
    .field("modulate", .bool, "true", "Multiply the static kernels by exp(−t·|deltas|) + shift."),
    .field("shift", .float, "0", "Added to the modulation's decay."),
    .field("dxt", .string, "\"fft\"", "Transform of the global convolution; only \"fft\" (length-L circular convolution scaled 1/L)."),
    .field("num_heads", .int, "1", "Conditioning heads; only 1."),
    .field("chain", .string, "\"*-c-*\"", "Gating chain; \"*-c-*\" or \"*c*\" (the same computation)."),
    .field("causal", .bool, "false", "Conditioning output domain, not causality: false adds the adaptive kernel in the frequency domain, true makes a time-domain kernel through a 2L transform (the official default, whose batched output has the wrong shape; zoo runs it per sequence)."),
    .field("conv_kernel.type", .string, "\"absfreq\"", "Conditioning type; only \"absfreq\" (Type I: power spectrum)."),
    .field("conv_kernel.nn", .string, "\"convtf\"", "Conditioning network; only \"convtf\" (a conv in time, then one over frequency)."),
    .field("conv_kernel.conv_filter_size", .int, "3", "Taps of both conditioning convolutions (odd)."),
    .field("conv_kernel.padding_mode", .string, "\"zeros\"", "Padding of the conditioning convolutions; only \"zeros\"."),
    .field("conv_kernel.norm", .string, "\"layernorm\"", "Norm after each conditioning convolution; only \"layernorm\" (ε 1e-5)."),
    .field("conv_kernel.n_layer", .int, "1", "Conv layers per conditioning network; only 1."),
    .field("conv_kernel.bias", .bool, "true", "Whether the conditioning convolutions have biases."),
  ]
}

/// `conv_kernel` of the official constructor: the conditioning network (module default
/// `conv_kernel_cfg`).
public struct ConditioningConfig: Equatable, Sendable {
  public var type = "absfreq"
  public var nn = "convtf"
  public var convFilterSize = 3
  public var paddingMode = "zeros"
  public var norm = "layernorm"
  public var nLayer = 1
  public var bias = true

  public init() {}
}

extension ConditioningConfig: Decodable {
  enum CodingKeys: String, CodingKey {
    case type, nn, convFilterSize = "conv_filter_size", paddingMode = "padding_mode", norm
    case nLayer = "n_layer", bias
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = ConditioningConfig()
    type = try c.value(.type, default: d.type)
    nn = try c.value(.nn, default: d.nn)
    convFilterSize = try c.value(.convFilterSize, default: d.convFilterSize)
    paddingMode = try c.value(.paddingMode, default: d.paddingMode)
    norm = try c.value(.norm, default: d.norm)
    nLayer = try c.value(.nLayer, default: d.nLayer)
    bias = try c.value(.bias, default: d.bias)
  }
}

extension OrchidOperatorConfig: ModelConfiguration {
  enum CodingKeys: String, CodingKey {
    case dModel = "d_model", lMax = "l_max", filterOrder = "filter_order", shortFilterOrder = "short_filter_order"
    case order, residualLongConv = "residual_long_conv", embDim = "emb_dim", numInnerMlps = "num_inner_mlps"
    case wMod = "w_mod", modulate, shift, causal, convKernel = "conv_kernel", dxt, numHeads = "num_heads", chain
    case normalized, bidirectional, linearMixer = "linear_mixer"
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(dModel: try c.decode(Int.self, forKey: .dModel))
    let d = self
    lMax = try c.value(.lMax, default: d.lMax)
    filterOrder = try c.value(.filterOrder, default: d.filterOrder)
    shortFilterOrder = try c.value(.shortFilterOrder, default: d.shortFilterOrder)
    order = try c.value(.order, default: d.order)
    residualLongConv = try c.value(.residualLongConv, default: d.residualLongConv)
    embDim = try c.value(.embDim, default: d.embDim)
    numInnerMlps = try c.value(.numInnerMlps, default: d.numInnerMlps)
    wMod = try c.value(.wMod, default: d.wMod)
    modulate = try c.value(.modulate, default: d.modulate)
    shift = try c.value(.shift, default: d.shift)
    causal = try c.value(.causal, default: d.causal)
    convKernel = try c.value(.convKernel, default: d.convKernel)
    dxt = try c.value(.dxt, default: d.dxt)
    numHeads = try c.value(.numHeads, default: d.numHeads)
    chain = try c.value(.chain, default: d.chain)
    normalized = try c.value(.normalized, default: d.normalized)
    bidirectional = try c.value(.bidirectional, default: d.bidirectional)
    linearMixer = try c.value(.linearMixer, default: d.linearMixer)
  }
}
