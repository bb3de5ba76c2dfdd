import ZooPluginKit

/// State-space language models: Mamba (model_type `mamba`) and Mamba-2 (`mamba2`), in
/// the Hugging Face layout, so `MambaForCausalLM` and `Mamba2ForCausalLM` folders load
/// unmodified.
/// Exported by `StateSpaceExport` (Export/).
public let stateSpacePlugin = PluginDefinition(
  name: "statespace",
  version: "0.1.0",
  description: "State-space language models: Mamba and Mamba-2 (SSD), with parallel prefill and a recurrent step.",
  source:
    "Gu & Dao 2023 (Mamba), Dao & Gu 2024 (Mamba-2); matches Hugging Face transformers 5.23.0 "
    + "modeling_mamba.py and modeling_mamba2.py",
  layers: StateSpaceLayers.kinds,
  models: [MambaBuilder.self, Mamba2Builder.self])
