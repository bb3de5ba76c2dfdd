import CZooPlugin
import ToolGate
import ZooPluginKit

// The plugin's entry point, in its own target: every plugin exports `zoo_plugin_init`,
// so the plugin's code (target ToolGate) stays linkable into a test binary beside others.
@_cdecl("zoo_plugin_init")
public func zooPluginInit(
  _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
  _ error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  exportPlugin(toolGatePlugin, host: host, out: out, error: error)
}
