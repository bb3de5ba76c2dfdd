import ZooPluginKit
import ZooProto

/// Builds Mamba-1 language models from Hugging Face folders (config.json model_type
/// "mamba", e.g. state-spaces/mamba-130m-hf): the equivalent of transformers 5.23.0
/// `MambaForCausalLM` (modeling_mamba.py), a `RecurrentLanguageModel` of `MambaMixer`
/// blocks.
public enum MambaBuilder: ModelBuilder {
  /// The manifest entry: model type, layer kind, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    var type = Zoo_V1_ModelType()
    type.modelType = "mamba"
    type.description_p =
      "Mamba-1 causal language model, as Hugging Face MambaForCausalLM (transformers 5.23.0): pre-norm RMSNorm blocks of selective state-space mixers, float32 residual, tied or separate LM head. Fixed-size recurrent state: conv state [d_inner, K] and SSM state [d_inner, N] per layer."
    type.layers = ["mamba1_mixer"]
    type.capabilities = StateSpaceLayers.recurrentCapabilities(
      decodeCost:
        "O(1) in context length: per layer ≈ 3·E·D² + E·D·(2R + 2N + K) MACs and E·D·N exps, plus the V·D LM head")
    type.config = MambaConfig.declaredFields
    type.weights = [
      "backbone.embeddings.weight",
      "backbone.layers.{i}.norm.weight",
      "backbone.layers.{i}.mixer.in_proj.weight",
      "backbone.layers.{i}.mixer.in_proj.bias",
      "backbone.layers.{i}.mixer.conv1d.weight",
      "backbone.layers.{i}.mixer.conv1d.bias",
      "backbone.layers.{i}.mixer.x_proj.weight",
      "backbone.layers.{i}.mixer.dt_proj.weight",
      "backbone.layers.{i}.mixer.dt_proj.bias",
      "backbone.layers.{i}.mixer.A_log",
      "backbone.layers.{i}.mixer.D",
      "backbone.layers.{i}.mixer.out_proj.weight",
      "backbone.layers.{i}.mixer.out_proj.bias",
      "backbone.norm_f.weight",
      "lm_head.weight",
    ]
    return type
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
  ) throws -> RecurrentLanguageModel {
    let config = try context.config(MambaConfig.self)
    try config.validate()
    let weights = context.weights
    let (v, d) = (config.vocabSize, config.hiddenSize)
    let embeddings = try BackboneWeights.embeddings(weights, vocab: v, hidden: d)
    let arena = copyToHugePages ? HugePageArena() : nil
    var norms: [Weight] = []
    var mixers: [any RecurrentMixer] = []
    for layer in 0..<config.numHiddenLayers {
      norms.append(try weights.tensor("backbone.layers.\(layer).norm.weight", shape: [d]))
      mixers.append(try MambaMixer(layer: layer, config: config, weights: weights, arena: arena))
    }
    return RecurrentLanguageModel(
      modelType: "mamba", vocabularySize: v, hiddenSize: d, epsilon: config.layerNormEpsilon,
      embeddings: embeddings, blockNorms: norms, mixers: mixers,
      finalNorm: try weights.tensor("backbone.norm_f.weight", shape: [d]),
      lmHead: try BackboneWeights.lmHead(weights, embeddings: embeddings, vocab: v, hidden: d),
      arena: arena, prefillChunkRows: prefillChunkRows)
  }
}
