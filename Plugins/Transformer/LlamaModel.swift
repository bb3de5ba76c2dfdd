import ZooPluginKit
import ZooProto

/// Builds Llama causal LMs (model_type "llama"): Hugging Face transformers 5.25.0
/// `LlamaForCausalLM` (modeling_llama.py) with the default rotary embedding.
enum LlamaBuilder: ModelBuilder {
  static var declaration: Zoo_V1_ModelType {
    .decoderStack(
      "llama",
      "Llama causal language model (Hugging Face LlamaForCausalLM, transformers 5.25.0): pre-norm RMSNorm decoder layers of grouped-query attention with rotary embeddings, SwiGLU MLP, optional attention biases, tied or separate LM head. Causal mask only (served by the ar decoder).",
      causality: .causal, config: LlamaConfig.declaredFields(family: "llama"),
      weights: DecoderWeightNames().declared(biases: true, qkNorm: false))
  }

  static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(LlamaConfig.self)
    return try DecoderTransformer(config.architecture(maskKinds: [.causal]), weights: context.weights)
  }
}

/// Builds Qwen2 causal LMs (model_type "qwen2"): Hugging Face transformers 5.25.0
/// `Qwen2ForCausalLM` (modeling_qwen2.py): Llama's stack with q/k/v biases.
enum Qwen2Builder: ModelBuilder {
  static var declaration: Zoo_V1_ModelType {
    .decoderStack(
      "qwen2",
      "Qwen2 causal language model (Hugging Face Qwen2ForCausalLM, transformers 5.25.0): Llama's pre-norm decoder with biases on q_proj, k_proj and v_proj. Causal mask only (served by the ar decoder).",
      causality: .causal, config: LlamaConfig.declaredFields(family: "qwen2"),
      weights: DecoderWeightNames().declared(biases: true, qkNorm: false).filter { !$0.hasSuffix("o_proj.bias") })
  }

  static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(LlamaConfig.self)
    return try DecoderTransformer(config.architecture(maskKinds: [.causal]), weights: context.weights)
  }
}

/// Builds Dream masked-diffusion LMs (config.json model_type "Dream", served as
/// "dream"): Dream-org's `DreamModel` (NVlabs/Fast-dLLM dream/model/modeling_dream.py):
/// Qwen2's layout and weights run with full bidirectional attention. Dream was
/// initialised from an autoregressive model, so the logit at position i − 1 predicts
/// token i: zoo's logits at position p are the head of p − 1's hidden state (position 0
/// keeps its own), as Dream's generation code shifts them, so every diffusion decoder
/// reads "logits at p predict token p" from every model.
enum DreamBuilder: ModelBuilder {
  static var declaration: Zoo_V1_ModelType {
    .decoderStack(
      "dream",
      "Dream masked-diffusion language model (Dream-org DreamModel; config model_type \"Dream\"): Qwen2's layout with q/k/v biases under full bidirectional attention; logits shifted right by one position (the logit at p − 1 predicts token p); mask_token_id from config.json. Bidirectional mask only (served by the diffusion decoders).",
      causality: .bidirectional, config: LlamaConfig.declaredFields(family: "dream"),
      weights: DecoderWeightNames().declared(biases: true, qkNorm: false).filter { !$0.hasSuffix("o_proj.bias") })
  }

  static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(LlamaConfig.self)
    return try DecoderTransformer(
      config.architecture(maskKinds: [.bidirectional], shiftsLogits: true), weights: context.weights)
  }
}
