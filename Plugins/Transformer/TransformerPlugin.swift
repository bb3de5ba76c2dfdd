import ZooPluginKit

/// Transformers: Qwen3 causal LMs with optional gated attention (model_type `qwen3`) and
/// BERT encoders with sentence-transformers pooling (`bert`), over a KV cache indexed by
/// position.
/// Exported by `TransformerExport` (Export/).
public let transformerPlugin = PluginDefinition(
  name: "transformer",
  version: "0.1.0",
  description:
    "Transformers over a position-indexed KV cache: Qwen3 causal LMs with optional gated attention, BERT encoders with sentence embeddings.",
  source:
    "Hugging Face transformers 5.23.0 modeling_qwen3.py and modeling_bert.py; Qiu et al. 2025, Gated Attention for "
    + "Large Language Models (arXiv 2505.06708, github.com/qiuzh20/gated_attention @ 49645df); sentence-transformers "
    + "6.2.0 Pooling and Normalize",
  layers: TransformerLayers.kinds,
  models: [Qwen3Builder.self, BertBuilder.self])
