import ZooPluginKit
import ZooProto

/// Builds Mamba-2 language models from Hugging Face folders (config.json model_type
/// "mamba2"): the equivalent of transformers 5.23.0 `Mamba2ForCausalLM`
/// (modeling_mamba2.py), a `StateSpaceLanguageModel` of `Mamba2Mixer` blocks.
public enum Mamba2Builder: ModelBuilder {
  /// The manifest entry: model type, layer kind, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .model(
      "mamba2",
      description:
        "Mamba-2 (SSD) causal language model, as Hugging Face Mamba2ForCausalLM (transformers 5.23.0): pre-norm RMSNorm blocks of Mamba-2 mixers with per-head scalar A, grouped B/C and gated RMSNorm. Exact recurrent scan; fixed-size state: conv state [d_inner + 2GN, K] and SSM state [H, P, N] per layer.",
      layers: ["mamba2_mixer"],
      capabilities: .recurrent(
        decodeCost: "O(1) in context length: per layer ≈ D·(2E·D + 2G·N + H) + E·D² + 3·E·D·N MACs, plus the V·D LM head"),
      config: Mamba2Config.declaredFields,
      weights: StateSpaceLanguageModel.weightNames(mixer: [
        "in_proj.weight", "in_proj.bias", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D", "norm.weight",
        "out_proj.weight", "out_proj.bias",
      ]))
  }

  /// Reads config.json and the weights (checking every shape) and returns the model.
  public static func load(_ context: ModelLoadContext) throws -> any Model {
    try load(context, prefillChunkRows: 512, copyToHugePages: HugePageArena.isEnabled)
  }

  /// Loads with a chosen prefill chunk length (tests use short chunks to cover the
  /// chunk boundaries) and with the large matrices copied into huge pages or read in
  /// place.
  static func load(
    _ context: ModelLoadContext, prefillChunkRows: Int = 512, copyToHugePages: Bool = true
  ) throws -> StateSpaceLanguageModel {
    let config = try context.config(Mamba2Config.self)
    return try StateSpaceLanguageModel(
      modelType: "mamba2", weights: context.weights, vocabularySize: config.vocabSize, hiddenSize: config.hiddenSize,
      layers: config.numHiddenLayers, epsilon: config.layerNormEpsilon, prefillChunkRows: prefillChunkRows,
      copyToHugePages: copyToHugePages
    ) { layer, arena in try Mamba2Mixer(layer: layer, config: config, weights: context.weights, arena: arena) }
  }
}
