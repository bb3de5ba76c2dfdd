import ContractFixtures
import CZooPlugin
import ZooPluginKit

// The shared library's entry point, in its own target as in every plugin.
@_cdecl("zoo_plugin_init")
public func zooPluginInit(
  _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
  _ error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  exportPlugin(contractFixtures, host: host, out: out, error: error)
}
