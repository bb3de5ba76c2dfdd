import Foundation
import ZooCore
import ZooPluginKit
import ZooProto

/// Builds insertion language models (model_type "ilm"): the official
/// `RotaryTransformerILMModelWithStoppingClassification` (Patel et al. 2025, arXiv
/// 2505.05755; dhruvdcoder/ILM @ 04f78bd src/pcdd/models/ilm.py and
/// src/pcdd/modules/rotary_transformer.py) under its own module names, so an official
/// state_dict saved as safetensors loads unchanged (a Lightning checkpoint's "model."
/// prefix is accepted too). Served by the `ilm` decoder (Plugins/Insertion).
enum ILMBuilder: ModelBuilder {
  static var declaration: Zoo_V1_ModelType {
    .with {
      $0.modelType = "ilm"
      $0.description_p =
        "Insertion LM (ILM, dhruvdcoder/ILM RotaryTransformerILMModelWithStoppingClassification): bidirectional pre-LayerNorm encoder with fused q|k|v, partial rotate-half RoPE on explicit logical positions and a ReLU MLP; insertion logits [L, V] (row i, token v: insert v right after logical position i) and a 2-class 'stop' head (0 = stop, 1 = continue) read at the [CLS] row. Bidirectional mask only; served by the ilm decoder."
      $0.layers = [TransformerLayers.rotaryEncoderLayer.name]
      $0.capabilities = .growingCache(
        causality: .bidirectional,
        decodeCost: "O(L) per insertion and layer over the whole sequence: every insertion moves later positions, so each step re-runs all L tokens (4·D² + 2·D·F + 2·D·L MACs per token and layer)")
      $0.capabilities.stopHead = true
      $0.config = ILMConfig.declaredFields
      $0.weights = [
        "[model.]embed_tokens.weight", "[model.]type_embeddings.weight",
        "[model.]encoder.{i}.norm1.weight", "[model.]encoder.{i}.norm1.bias", "[model.]encoder.{i}.attn_qkv.weight",
        "[model.]encoder.{i}.o_proj.weight", "[model.]encoder.{i}.norm2.weight", "[model.]encoder.{i}.norm2.bias",
        "[model.]encoder.{i}.mlp.0.weight", "[model.]encoder.{i}.mlp.0.bias", "[model.]encoder.{i}.mlp.2.weight",
        "[model.]encoder.{i}.mlp.2.bias", "[model.]encoder.{i}.rotary_emb.inv_freq",
        "[model.]output_layer.norm_final.weight", "[model.]output_layer.norm_final.bias",
        "[model.]output_layer.linear.weight",
        "[model.]length_output_layer.norm_final.weight", "[model.]length_output_layer.norm_final.bias",
        "[model.]length_output_layer.mlp.0.weight", "[model.]length_output_layer.mlp.0.bias",
        "[model.]length_output_layer.mlp.2.weight", "[model.]length_output_layer.mlp.2.bias",
        "[model.]length_output_layer.linear.weight",
      ]
    }
  }

  static func load(_ context: ModelLoadContext) throws -> any Model {
    try ILMModel(config: context.config(ILMConfig.self), weights: context.weights)
  }
}

/// One `RotaryTransformerLayer` (pre-LayerNorm; dropout is training only):
///
///     [q | k | v] = LayerNorm₁(x)·W_qkvᵀ                    norm1, attn_qkv (no bias)
///     q, k ← RoPE on the first rotary_emb_dim floats of each head, at the logical positions
///     x ← x + Attention(q, k, v)·W_oᵀ                        o_proj (no bias)
///     x ← x + W₂·ReLU(W₁·LayerNorm₂(x) + b₁) + b₂            norm2, mlp.0, mlp.2
struct ILMLayer: @unchecked Sendable {
  let norm1, norm2: LayerNormWeights
  let qkv, output, up, down: Linear

  init(_ weights: Weights, prefix p: String, config c: ILMConfig) throws {
    let d = c.dModel
    norm1 = try LayerNormWeights(weights, "\(p).norm1", width: d, epsilon: c.layerNormEps)
    norm2 = try LayerNormWeights(weights, "\(p).norm2", width: d, epsilon: c.layerNormEps)
    qkv = try Linear(weights, "\(p).attn_qkv", in: d, out: 3 * d, bias: false)
    output = try Linear(weights, "\(p).o_proj", in: d, out: d, bias: false)
    up = try Linear(weights, "\(p).mlp.0", in: d, out: c.feedforward, bias: true)
    down = try Linear(weights, "\(p).mlp.2", in: c.feedforward, out: d, bias: true)
    // A buffer of the shared RotaryEmbedding, recomputed from rotary_emb_dim.
    _ = weights.contains("\(p).rotary_emb.inv_freq")
  }

  var parameterBytes: Int {
    [qkv, output, up, down].reduce(0) { $0 + $1.parameterBytes } + norm1.parameterBytes + norm2.parameterBytes
  }
}

/// The stop head (`RotaryTransformerFinalLayerForClassification`, length_output_layer):
/// logits = W·(h + W₂·tanh(W₁·LayerNorm(h) + b₁) + b₂), two classes: 0 = stop, 1 = continue.
struct ILMStopHead: @unchecked Sendable {
  let norm: LayerNormWeights
  let up, down, classes: Linear

  init(_ weights: Weights, prefix p: String, config c: ILMConfig) throws {
    let d = c.dModel
    norm = try LayerNormWeights(weights, "\(p).norm_final", width: d, epsilon: c.layerNormEps)
    up = try Linear(weights, "\(p).mlp.0", in: d, out: 2 * d, bias: true)
    down = try Linear(weights, "\(p).mlp.2", in: 2 * d, out: d, bias: true)
    classes = try Linear(weights, "\(p).linear", in: d, out: 2, bias: false)
  }

  var parameterBytes: Int { [up, down, classes].reduce(0) { $0 + $1.parameterBytes } + norm.parameterBytes }

  /// Two logits per row of `hidden`.
  func apply(_ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
    let d = norm.weight.count
    var residual = [Float](repeating: 0, count: rows * d)
    var inner = [Float](repeating: 0, count: rows * 2 * d)
    residual.withUnsafeMutableBufferPointer { r in
      inner.withUnsafeMutableBufferPointer { u in
        let (r, u) = (r.baseAddress!, u.baseAddress!)
        Kernels.layerNorm(
          hidden, rows: rows, width: d, weight: norm.weight.pointer, bias: norm.bias.pointer, epsilon: norm.epsilon,
          into: r)
        up.apply(r, rows: rows, into: u)
        for i in 0..<rows * 2 * d { u[i] = tanhf(u[i]) }
        r.update(from: hidden, count: rows * d)
        down.apply(u, rows: rows, into: r, accumulate: true)
        classes.apply(r, rows: rows, into: out)
      }
    }
  }
}

/// An insertion LM over a position-indexed KV cache. The embedding has no positional
/// part: positions enter only through RoPE, so tokens may sit in any storage order with
/// their logical positions (a new token is appended with its position). Hidden states are
/// the last layer's output; the insertion head applies output_layer.norm_final (when the
/// checkpoint has it) and output_layer.linear, the stop head reads the hidden state
/// without that norm, as the official forward does.
final class ILMModel: CachedTransformer, @unchecked Sendable {
  let modelType = "ilm"
  let config: ILMConfig
  let embeddings: Weight
  let layers: [ILMLayer]
  let outputNorm: LayerNormWeights?
  let head: Linear
  let stopHead: ILMStopHead
  let rope: RotaryEmbedding
  let attention: AttentionHeads
  let cacheLayout: KVCacheLayout
  let info: ModelInfo
  let logitsUnavailable: String? = nil

  var vocabularySize: Int { config.numEmbeddings }
  var hiddenSize: Int { config.dModel }
  var layerCount: Int { layers.count }

  init(config c: ILMConfig, weights: Weights) throws {
    let (v, d) = (c.numEmbeddings, c.dModel)
    // A Lightning checkpoint's state_dict keeps the network under "model.".
    let p = weights.contains("model.embed_tokens.weight") ? "model." : ""
    config = c
    embeddings = try weights.tensor("\(p)embed_tokens.weight", shape: [v, d])
    // Kept by the official class for old checkpoints; unused without input_constraint.
    _ = weights.contains("\(p)type_embeddings.weight")
    layers = try (0..<c.numLayers).map { try ILMLayer(weights, prefix: "\(p)encoder.\($0)", config: c) }
    _ = weights.contains("\(p)output_layer.norm_final.weight")
    outputNorm =
      c.finalLayerWithoutNormalization
      ? nil : try LayerNormWeights(weights, "\(p)output_layer.norm_final", width: d, epsilon: c.layerNormEps)
    head = try Linear(weights, "\(p)output_layer.linear", in: d, out: v, bias: false)
    stopHead = try ILMStopHead(weights, prefix: "\(p)length_output_layer", config: c)
    rope = RotaryEmbedding(headDim: c.rotaryEmbDim, base: 10000)
    attention = AttentionHeads(heads: c.nhead, kvHeads: c.nhead, headDim: c.headDim)
    cacheLayout = KVCacheLayout(layers: c.numLayers, width: d, maxPositions: c.maxLength)
    let weightBytes =
      embeddings.count * MemoryLayout<Float>.size + layers.reduce(0) { $0 + $1.parameterBytes }
      + (outputNorm?.parameterBytes ?? 0) + head.parameterBytes + stopHead.parameterBytes
    info = ModelInfo(
      vocabularySize: v, hiddenSize: d, maxPositions: c.maxLength, maskKinds: [.bidirectional], stateIsFixed: false,
      stateBytes: cacheLayout.bytesPerToken, weightBytes: weightBytes,
      specialTokens: SpecialTokens(pad: Int32(c.paddingIdx)), heads: [OutputHead(name: "stop", width: 2)])
  }

  // Scratch: the RoPE table [rows, r], normalised rows [rows, D], q|k|v [rows, 3D] (reused
  // for the MLP's [rows, F]), the attention context [rows, D], then attention's own.
  func layerScratchCount(rows: Int, keys: Int, gatheredKeys: Int) -> Int {
    rows * (rope.tableWidth + 2 * hiddenSize + max(3 * hiddenSize, config.feedforward))
      + attention.scratchCount(rows: rows, keys: keys)
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
    let layer = layers[index]
    let table = scratch
    let normed = table + n * rope.tableWidth
    let context = normed + n * d
    let projected = context + n * d
    let attentionScratch = projected + n * max(3 * d, config.feedforward)
    let keys = cache.keys(index)
    let values = cache.values(index)

    Kernels.layerNorm(
      x, rows: n, width: d, weight: layer.norm1.weight.pointer, bias: layer.norm1.bias.pointer,
      epsilon: layer.norm1.epsilon, into: normed)
    layer.qkv.apply(normed, rows: n, into: projected)
    for t in 0..<n {
      let row = projected + t * 3 * d
      let angles = table + t * rope.tableWidth
      rope.rotate(row, heads: config.nhead, headStride: config.headDim, table: angles)
      rope.rotate(row + d, heads: config.nhead, headStride: config.headDim, table: angles)
      let slot = plan.positions[t] * d
      (keys + slot).update(from: row + d, count: d)
      (values + slot).update(from: row + 2 * d, count: d)
    }
    attention.attend(
      queries: projected, queryStride: 3 * d, rows: n, keys: keys, values: values, kvStride: d,
      keyCount: { plan.keyCounts[$0] }, scratch: attentionScratch, into: context, outStride: d)
    layer.output.apply(context, rows: n, into: x, accumulate: true)

    Kernels.layerNorm(
      x, rows: n, width: d, weight: layer.norm2.weight.pointer, bias: layer.norm2.bias.pointer,
      epsilon: layer.norm2.epsilon, into: normed)
    layer.up.apply(normed, rows: n, into: projected)
    for i in 0..<n * config.feedforward { projected[i] = max(projected[i], 0) }
    layer.down.apply(projected, rows: n, into: x, accumulate: true)
  }

  func finalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {}

  func logits(
    _ hidden: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    into logits: UnsafeMutablePointer<Float>
  ) {
    guard let outputNorm else {
      head.apply(hidden, rows: rows, into: logits)
      return
    }
    let d = hiddenSize
    Kernels.layerNorm(
      hidden, rows: rows, width: d, weight: outputNorm.weight.pointer, bias: outputNorm.bias.pointer,
      epsilon: outputNorm.epsilon, into: scratch)
    head.apply(scratch, rows: rows, into: logits)
  }

  func head(_ index: Int, _ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
    stopHead.apply(hidden, rows: rows, into: out)
  }
}
