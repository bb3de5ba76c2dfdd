import CZooPlugin
import ZooPluginKit

/// The decoders every causal model can use. Decoders are plugins like models, so
/// insertion and diffusion decoders arrive the same way.
let autoregressivePlugin = PluginDefinition(
  name: "autoregressive",
  version: "0.1.0",
  description: "Left-to-right sampling decoder (ar) for any causal model.",
  decoders: [AutoregressiveDecoder.self])

@_cdecl("zoo_plugin_init")
public func zooPluginInit(
  _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
  _ error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  exportPlugin(autoregressivePlugin, host: host, out: out, error: error)
}
