import ZooPluginKit

/// The decoders every causal model can use. Decoders are plugins like models, so
/// insertion and diffusion decoders arrive the same way.
/// Exported by `AutoregressiveExport` (Export/).
public let autoregressivePlugin = PluginDefinition(
  name: "autoregressive",
  version: "0.1.0",
  description: "Left-to-right sampling decoder (ar) for any causal model.",
  decoders: [AutoregressiveDecoder.self])
