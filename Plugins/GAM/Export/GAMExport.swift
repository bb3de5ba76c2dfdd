import CZooPlugin
import GAM
import ZooPluginKit

// The shared library's entry point, in its own target: every plugin exports this symbol,
// so the plugin's code (target GAM) stays linkable into a test binary beside others.
@_cdecl("zoo_plugin_init")
public func zooPluginInit(
  _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
  _ error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  exportPlugin(GAMPlugin.definition, host: host, out: out, error: error)
}
