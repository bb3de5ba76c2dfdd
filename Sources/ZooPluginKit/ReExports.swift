// Plugins see the ABI wrappers (ModelHandle, ModelInfo, PluginError) through this module.
@_exported import ZooABI
