import CZooPlugin
import Orchid
import ZooPluginKit

// The plugin's entry point, in its own target so that test binaries can link `Orchid`
// next to other plugins without two `zoo_plugin_init` symbols.
@_cdecl("zoo_plugin_init")
public func zooPluginInit(
  _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
  _ error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  exportPlugin(orchidPlugin, host: host, out: out, error: error)
}
