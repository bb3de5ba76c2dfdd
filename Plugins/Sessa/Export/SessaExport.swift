import CZooPlugin
import Sessa
import ZooPluginKit

// The plugin's entry symbol, in its own target: every plugin exports `zoo_plugin_init`,
// so test targets link `Sessa` and never this file.
@_cdecl("zoo_plugin_init")
public func zooPluginInit(
  _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
  _ error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  exportPlugin(sessaPlugin, host: host, out: out, error: error)
}
