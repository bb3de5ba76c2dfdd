import ZooPluginKit
import ZooProto

/// Builds Qwen3 causal LMs (config.json model_type "qwen3"): Hugging Face transformers
/// 5.23.0 `Qwen3ForCausalLM` (modeling_qwen3.py), and the gated-attention Qwen3 of
/// github.com/qiuzh20/gated_attention (same weight names, q_proj widened by the gate).
public enum Qwen3Builder: ModelBuilder {
  /// The manifest entry: model type, layer kinds, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .decoderStack(
      "qwen3",
      "Qwen3 causal language model (Hugging Face Qwen3ForCausalLM, transformers 5.23.0): pre-norm RMSNorm decoder layers of grouped-query attention with q/k RMSNorm and rotary embeddings, SwiGLU MLP, tied or separate LM head; optionally with the headwise or elementwise sigmoid attention-output gate of Qiu et al. 2025 (qiuzh20/gated_attention). KV cache by position: overwrite, truncate, copy; causal, bidirectional and block-causal masks.",
      causality: .causal, config: Qwen3Config.declaredFields,
      weights: DecoderWeightNames().declared(biases: true, qkNorm: true))
  }

  /// Reads config.json and the weights (checking every shape) and returns the model.
  public static func load(_ context: ModelLoadContext) throws -> any Model {
    let c = try context.config(Qwen3Config.self)
    let architecture = DecoderArchitecture(
      modelType: "qwen3", vocabulary: c.vocabSize, hidden: c.hiddenSize, intermediate: c.intermediateSize,
      layers: c.numHiddenLayers,
      attention: AttentionShape(
        hidden: c.hiddenSize, heads: c.numAttentionHeads, kvHeads: c.kvHeads, headDim: c.resolvedHeadDim,
        qkvBias: c.projectionBias, outputBias: c.projectionBias, qkNorm: c.useQkNorm, gate: c.gate,
        epsilon: c.rmsNormEps),
      ropeTheta: c.resolvedRopeTheta, maxPositions: c.maxPositionEmbeddings, tiedHead: c.tieWordEmbeddings,
      maskKinds: [.causal, .bidirectional, .blockCausal])
    return try DecoderTransformer(architecture, weights: context.weights)
  }
}
