import ZooPluginKit

/// Transformers over a KV cache indexed by position: the Llama-family decoder stacks
/// (Qwen3 with optional gated attention, Llama, Qwen2; the masked-diffusion LLaDA and
/// Dream), the ILM insertion LM, and BERT encoders with sentence-transformers pooling.
/// Exported by `TransformerExport` (Export/).
public let transformerPlugin = PluginDefinition(
  name: "transformer",
  version: "0.1.0",
  description:
    "Transformers over a position-indexed KV cache: Qwen3 (optionally gated attention), Llama and Qwen2 causal LMs; LLaDA and Dream masked-diffusion LMs; the ILM insertion LM; BERT encoders with sentence embeddings.",
  source:
    "Hugging Face transformers 5.23.0 modeling_qwen3.py and modeling_bert.py, 5.25.0 modeling_llama.py and modeling_qwen2.py; "
    + "LLaDA and Dream as NVlabs/Fast-dLLM @ 24cc59e llada/model/modeling_llada.py and dream/model/modeling_dream.py; Qiu et al. 2025, Gated Attention for "
    + "Large Language Models (arXiv 2505.06708, github.com/qiuzh20/gated_attention @ 49645df); sentence-transformers "
    + "6.2.0 Pooling and Normalize; ILM as dhruvdcoder/ILM @ 04f78bd src/pcdd/models/ilm.py",
  layers: TransformerLayers.kinds,
  models: [
    Qwen3Builder.self, LlamaBuilder.self, Qwen2Builder.self, LLaDABuilder.self, DreamBuilder.self, ILMBuilder.self,
    BertBuilder.self,
  ])
