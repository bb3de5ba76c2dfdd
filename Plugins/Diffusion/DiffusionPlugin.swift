import ZooPluginKit

/// Masked-diffusion decoders for any bidirectional model with a mask token (LLaDA,
/// Dream): MDLM's ancestral sampler, LLaDA's low-confidence remasking, Fast-dLLM's
/// threshold decoding with prefix and dual caches, Deferred Commitment Decoding and
/// Window-Diffusion, chosen per request.
/// Exported by `DiffusionExport` (Export/).
public let diffusionPlugin = PluginDefinition(
  name: "diffusion",
  version: "0.1.0",
  description:
    "Masked-diffusion decoders (mdlm, llada, fast-dllm, dcd, window-diffusion) for bidirectional models with a mask token.",
  source:
    "kuleshov-group/mdlm @ c112c52 diffusion.py; ML-GSAI/LLaDA @ b7e6c35 generate.py; NVlabs/Fast-dLLM @ 24cc59e "
    + "llada/generate.py; shuyingte/DCD @ ea6a4b7 decode_algorithm.py; "
    + "vhicrgit/Window-Diffusion @ d8bb349 llada/model/modeling_llada.py",
  decoders: [MDLMDecoder.self, LLaDADecoder.self, FastDLLMDecoder.self, DCDDecoder.self, WindowDiffusionDecoder.self])
