import ZooPluginKit

/// Insertion decoding for models with a stop head: the `ilm` decoder (Patel et al. 2025,
/// "Insertion Language Models", arXiv 2505.05755), which continues a prompt or fills the
/// gaps of a template one insertion at a time and stops when the model says so. The
/// `ilm` model type it drives lives in the transformer plugin beside the other
/// position-indexed transformers. Exported by `InsertionExport` (Export/).
public let insertionPlugin = PluginDefinition(
  name: "insertion",
  version: "0.1.0",
  description:
    "Insertion-LM decoding (ilm): one token inserted per step anywhere the prompt or template allows, until the model's stop head says the text is complete; fills the gaps of templates.",
  source: "dhruvdcoder/ILM @ 04f78bd src/pcdd/diffusion/ilm_v2.py (ILMPredictorWithStoppingClassification)",
  decoders: [ILMDecoder.self])
