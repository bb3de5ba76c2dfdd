import ZooPluginKit
import ZooProto

/// Builds zoo's Sessa language model (config.json model_type "sessa") from a folder of
/// config.json + model.safetensors; the layout is in the plugin's README.
public enum SessaBuilder: ModelBuilder {
  /// The manifest entry: model type, layer kind, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .model(
      "sessa",
      description:
        "Sessa causal language model (zoo's definition around the official SessaLayer): embedding, N Sessa layers each optionally followed by a pre-LayerNorm GELU MLP block, final LayerNorm, head (lm_head.weight or the tied embedding). State grows per token: k_f, v_f, k_b and s of every layer.",
      layers: [SessaLayers.layer.name],
      capabilities: .growingCache(
        causality: .causal,
        decodeCost:
          "O(t) per token over t cached tokens, no re-run: per layer ≈ 6·D² + 2·D·n_kv_heads·d (+ D² out_proj when n_heads > 1) + 2·D·I (MLP) MACs for the projections plus 4·t·D for the two attentions, and V·D for the head"),
      config: SessaConfig.declaredFields,
      weights:
        ["embedding.weight"] + SessaLayers.weightNames.map { "layers.{i}." + $0 } + [
          "mlps.{i}.norm.weight", "mlps.{i}.norm.bias", "mlps.{i}.fc1.weight", "mlps.{i}.fc1.bias",
          "mlps.{i}.fc2.weight", "mlps.{i}.fc2.bias", "norm.weight", "norm.bias", "lm_head.weight",
        ])
  }

  /// Reads config.json and the weights (checking every shape) and returns the model.
  public static func load(_ context: ModelLoadContext) throws -> any Model {
    try load(context, prefillChunkRows: 256)
  }

  /// Loads with a chosen prefill chunk length (tests use short chunks to cover the
  /// chunk boundaries).
  static func load(_ context: ModelLoadContext, prefillChunkRows: Int) throws -> SessaLanguageModel {
    let config = try context.config(SessaConfig.self)
    let weights = context.weights
    let (v, d, inner) = (config.vocabSize, config.hiddenSize, config.intermediateSize)
    if inner == 0, weights.contains("mlps.0.fc1.weight") {
      throw PluginError.invalidArgument(
        "the checkpoint has MLP blocks (mlps.0.fc1.weight) but config.json's intermediate_size is 0; set it to their width"
      )
    }
    let embedding = try weights.tensor("embedding.weight", shape: [v, d])
    let layers = try (0..<config.numHiddenLayers).map {
      try SessaLayer(prefix: "layers.\($0).", config: config.layer, weights: weights)
    }
    let mlps =
      inner == 0
      ? []
      : try (0..<config.numHiddenLayers).map {
        try SessaMLP(prefix: "mlps.\($0).", width: d, inner: inner, epsilon: config.layerNormEps, weights: weights)
      }
    let head = try weights.head(tiedTo: embedding)
    return SessaLanguageModel(
      config: config, embedding: embedding, layers: layers, mlps: mlps,
      finalNormWeight: try weights.tensor("norm.weight", shape: [d]),
      finalNormBias: try weights.tensor("norm.bias", shape: [d]), head: head, prefillChunkRows: prefillChunkRows)
  }
}
