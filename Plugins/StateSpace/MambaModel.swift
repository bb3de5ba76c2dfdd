import ZooPluginKit
import ZooProto

/// Builds Mamba-1 language models from Hugging Face folders (config.json model_type
/// "mamba", e.g. state-spaces/mamba-130m-hf): the equivalent of transformers 5.23.0
/// `MambaForCausalLM` (modeling_mamba.py), a `StateSpaceLanguageModel` of `MambaMixer`
/// blocks.
public enum MambaBuilder: ModelBuilder {
  /// The manifest entry: model type, layer kind, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .model(
      "mamba",
      description:
        "Mamba-1 causal language model, as Hugging Face MambaForCausalLM (transformers 5.23.0): pre-norm RMSNorm blocks of selective state-space mixers, float32 residual, tied or separate LM head. Fixed-size recurrent state: conv state [d_inner, K] and SSM state [d_inner, N] per layer.",
      layers: ["mamba1_mixer"],
      capabilities: .recurrent(
        decodeCost:
          "O(1) in context length: per layer ≈ 3·E·D² + E·D·(2R + 2N + K) MACs and E·D·N exps, plus the V·D LM head"),
      config: MambaConfig.declaredFields,
      weights: StateSpaceLanguageModel.weightNames(mixer: [
        "in_proj.weight", "in_proj.bias", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
        "dt_proj.bias", "A_log", "D", "out_proj.weight", "out_proj.bias",
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
    let config = try context.config(MambaConfig.self)
    return try StateSpaceLanguageModel(
      modelType: "mamba", weights: context.weights, vocabularySize: config.vocabSize, hiddenSize: config.hiddenSize,
      layers: config.numHiddenLayers, epsilon: config.layerNormEpsilon, prefillChunkRows: prefillChunkRows,
      copyToHugePages: copyToHugePages
    ) { layer, arena in try MambaMixer(layer: layer, config: config, weights: context.weights, arena: arena) }
  }
}
