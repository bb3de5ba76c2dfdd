import ZooCore
import ZooPluginKit
import ZooProto

/// Builds Qwen3 causal LMs (config.json model_type "qwen3"): Hugging Face transformers
/// 5.23.0 `Qwen3ForCausalLM` (modeling_qwen3.py), and the gated-attention Qwen3 of
/// github.com/qiuzh20/gated_attention (same weight names, q_proj widened by the gate).
public enum Qwen3Builder: ModelBuilder {
  /// The manifest entry: model type, layer kinds, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .with {
      $0.modelType = "qwen3"
      $0.description_p =
        "Qwen3 causal language model (Hugging Face Qwen3ForCausalLM, transformers 5.23.0): pre-norm RMSNorm decoder layers of grouped-query attention with q/k RMSNorm and rotary embeddings, SwiGLU MLP, tied or separate LM head; optionally with the headwise or elementwise sigmoid attention-output gate of Qiu et al. 2025 (qiuzh20/gated_attention). KV cache by position: overwrite, truncate, copy; causal, bidirectional and block-causal masks."
      $0.layers = [TransformerLayers.gatedAttention.name, TransformerLayers.swigluMLP.name]
      $0.capabilities = .growingCache(
        causality: .causal,
        decodeCost: "O(context) per token: per layer ≈ D·(q_proj rows + 2·KV·hd) + H·hd·D + 3·D·I MACs plus 2·H·hd·t for attention over t cached tokens, and V·D for the head",
        embeddings: false)
      $0.config = Qwen3Config.declaredFields
      $0.weights = [
        "model.embed_tokens.weight",
        "model.layers.{i}.input_layernorm.weight",
        "model.layers.{i}.self_attn.q_proj.weight",
        "model.layers.{i}.self_attn.q_proj.bias",
        "model.layers.{i}.self_attn.k_proj.weight",
        "model.layers.{i}.self_attn.k_proj.bias",
        "model.layers.{i}.self_attn.v_proj.weight",
        "model.layers.{i}.self_attn.v_proj.bias",
        "model.layers.{i}.self_attn.o_proj.weight",
        "model.layers.{i}.self_attn.o_proj.bias",
        "model.layers.{i}.self_attn.q_norm.weight",
        "model.layers.{i}.self_attn.k_norm.weight",
        "model.layers.{i}.post_attention_layernorm.weight",
        "model.layers.{i}.mlp.gate_proj.weight",
        "model.layers.{i}.mlp.up_proj.weight",
        "model.layers.{i}.mlp.down_proj.weight",
        "model.norm.weight",
        "lm_head.weight",
      ]
    }
  }

  /// Reads config.json and the weights (checking every shape) and returns the model.
  public static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(Qwen3Config.self)
    return try Qwen3Model(config: config, weights: context.weights)
  }
}

/// One Qwen3 decoder layer: `h += attn(RMSNorm(h))`, `h += mlp(RMSNorm(h))`.
struct Qwen3DecoderLayer {
  let inputNorm: Weight
  let attention: GatedAttention
  let postAttentionNorm: Weight
  let mlp: SwiGLU
}

/// A Qwen3 (optionally gated-attention) causal LM over a position-indexed KV cache:
///
///     h = embed_tokens[tokens]
///     each layer: h += GatedAttention(RMSNorm(h)); h += SwiGLU(RMSNorm(h))
///     hidden = RMSNorm(h; model.norm), logits = hidden · lm_headᵀ
final class Qwen3Model: CachedTransformer, @unchecked Sendable {
  let modelType = "qwen3"
  let config: Qwen3Config
  let embeddings: Weight
  let layers: [Qwen3DecoderLayer]
  let norm: Weight
  /// The embedding itself when tied or when lm_head.weight is absent.
  let lmHead: Weight
  let rope: RotaryEmbedding
  let cacheLayout: KVCacheLayout
  let info: ModelInfo
  let logitsUnavailable: String? = nil

  var vocabularySize: Int { config.vocabSize }
  var hiddenSize: Int { config.hiddenSize }
  var layerCount: Int { layers.count }

  init(config: Qwen3Config, weights: Weights) throws {
    let (v, d) = (config.vocabSize, config.hiddenSize)
    self.config = config
    embeddings = try weights.tensor("model.embed_tokens.weight", shape: [v, d])
    layers = try (0..<config.numHiddenLayers).map { i in
      let p = "model.layers.\(i)"
      return Qwen3DecoderLayer(
        inputNorm: try weights.tensor("\(p).input_layernorm.weight", shape: [d]),
        attention: try GatedAttention(weights, prefix: "\(p).self_attn", config: config),
        postAttentionNorm: try weights.tensor("\(p).post_attention_layernorm.weight", shape: [d]),
        mlp: try SwiGLU(weights, prefix: "\(p).mlp", hidden: d, intermediate: config.intermediateSize))
    }
    norm = try weights.tensor("model.norm.weight", shape: [d])
    lmHead = try weights.head(tiedTo: embeddings, tied: config.tieWordEmbeddings)
    rope = RotaryEmbedding(headDim: config.resolvedHeadDim, base: Float(config.resolvedRopeTheta))
    cacheLayout = KVCacheLayout(
      layers: layers.count, width: config.kvHeads * config.resolvedHeadDim, maxPositions: config.maxPositionEmbeddings)
    let float = MemoryLayout<Float>.size
    let weightBytes =
      (embeddings.count + norm.count + (lmHead === embeddings ? 0 : lmHead.count)) * float
      + layers.reduce(0) {
        $0 + $1.attention.parameterBytes + $1.mlp.parameterBytes + ($1.inputNorm.count + $1.postAttentionNorm.count) * float
      }
    info = ModelInfo(
      vocabularySize: v, hiddenSize: d, maxPositions: config.maxPositionEmbeddings,
      maskKinds: [.causal, .bidirectional, .blockCausal], stateIsFixed: false, stateBytes: cacheLayout.bytesPerToken,
      weightBytes: weightBytes)
  }

  // Scratch: the RoPE table [rows, hd], normalised rows [rows, D], then the attention
  // block's or the MLP's own (they run one after the other).
  func layerScratchCount(rows: Int, keys: Int) -> Int {
    rows * (rope.tableWidth + hiddenSize)
      + max(layers[0].attention.scratchCount(rows: rows, keys: keys), layers[0].mlp.scratchCount(rows: rows))
  }

  func embedTokens(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], into x: UnsafeMutablePointer<Float>) {
    let d = hiddenSize
    for (r, token) in tokens.enumerated() { (x + r * d).update(from: embeddings.pointer + Int(token) * d, count: d) }
  }

  func prepare(_ plan: CachePlan, scratch: UnsafeMutablePointer<Float>) {
    rope.fillTable(positions: plan.positions, into: scratch)
  }

  func layer(
    _ index: Int, _ x: UnsafeMutablePointer<Float>, plan: CachePlan, cache: KVCacheState,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let n = plan.positions.count
    let d = hiddenSize
    let table = scratch
    let normed = scratch + n * rope.tableWidth
    let rest = normed + n * d
    let layer = layers[index]
    let eps = config.rmsNormEps
    Kernels.rmsNorm(x, rows: n, width: d, weight: layer.inputNorm.pointer, epsilon: eps, into: normed)
    layer.attention.forward(
      normed, rows: n, plan: plan, keys: cache.keys(index), values: cache.values(index), rope: rope,
      ropeTable: table, scratch: rest, addingInto: x)
    Kernels.rmsNorm(x, rows: n, width: d, weight: layer.postAttentionNorm.pointer, epsilon: eps, into: normed)
    layer.mlp.forward(normed, rows: n, scratch: rest, addingInto: x)
  }

  func finalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {
    Kernels.rmsNorm(x, rows: rows, width: hiddenSize, weight: norm.pointer, epsilon: config.rmsNormEps, into: x)
  }

  func logits(
    _ hidden: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    into logits: UnsafeMutablePointer<Float>
  ) {
    BLAS.linear(
      hidden, rows: rows, inFeatures: hiddenSize, weight: lmHead.pointer, outFeatures: vocabularySize, into: logits)
  }
}
