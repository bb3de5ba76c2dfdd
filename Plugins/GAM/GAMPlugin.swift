import ZooPluginKit
import ZooProto

/// The GAM plugin: the official Gated Associative Memory language model (model_type
/// `gam`), loaded from a folder holding GAM_Model's constructor arguments as config.json
/// and its state_dict as safetensors.
public enum GAMPlugin {
  public static let definition = PluginDefinition(
    name: "gam",
    version: "0.1.0",
    description:
      "Gated Associative Memory (GAM) language models: causal depthwise convolution plus memory-bank retrieval fused by sigmoid gates, with a fixed-size decoding state.",
    source:
      "Acharya 2025, Gated Associative Memory (arXiv 2509.00605); matches github.com/rishiraj/gam @ 2ebb82e47228d702d6f9f7b6cba5aebebe22db0f gam_model.py (GAMBlock, GAM_Model)",
    layers: [blockKind],
    models: [GAMBuilder.self])

  /// The `gam_block` layer kind.
  public static let blockKind: Zoo_V1_LayerKind = .layer(
    "gam_block",
    description:
      "GAM block: LayerNorm, then a causal depthwise conv (local) and a softmax read of a learned memory bank [S, D] (global, per token), fused by sigmoid gates into the residual; then a pre-LayerNorm 4x GELU FFN. State: the last k − 1 normalised inputs, (k − 1)·D floats.",
    capabilities: .recurrent(
      decodeCost: "O(1) in context length: k·D (conv) + 2·S·D (memory) + 2·D² (gates) + 8·D² (FFN) MACs and S exps per token"),
    config: GAMConfig.blockFields)
}
