import Foundation
import ZooCore
import ZooPluginKit
import ZooProto

/// Builds BERT encoders (config.json model_type "bert"): Hugging Face transformers 5.23.0
/// `BertModel` (modeling_bert.py), with `BertForMaskedLM`'s head when the checkpoint has
/// it, and sentence-transformers pooling when the folder has `modules.json`.
public enum BertBuilder: ModelBuilder {
  /// The manifest entry: model type, layer kinds, capabilities, config keys, weight names.
  public static var declaration: Zoo_V1_ModelType {
    .with {
      $0.modelType = "bert"
      $0.description_p =
        "BERT encoder (Hugging Face BertModel, transformers 5.23.0): word + learned absolute position + token-type-0 embeddings, LayerNorm, post-LayerNorm encoder layers with exact GELU. Sentence embeddings (packed batches) when the folder is a sentence-transformers model (modules.json: Pooling cls/max/mean/mean_sqrt_len/weightedmean/lasttoken, Normalize); logits only when the checkpoint has the BertForMaskedLM head (cls.predictions.*). Optional 'bert.' prefix. KV cache by position; bidirectional by default, causal and block-causal also served."
      $0.layers = [TransformerLayers.bertEncoderLayer.name]
      $0.capabilities = .growingCache(
        causality: .bidirectional,
        decodeCost: "O(context) per token: per layer 4·D² + 2·D·I + 2·D·t MACs over t cached tokens",
        embeddings: true)
      $0.config = BertConfig.declaredFields
      $0.weights = [
        "[bert.]embeddings.word_embeddings.weight",
        "[bert.]embeddings.position_embeddings.weight",
        "[bert.]embeddings.token_type_embeddings.weight",
        "[bert.]embeddings.LayerNorm.weight",
        "[bert.]embeddings.LayerNorm.bias",
        "[bert.]encoder.layer.{i}.attention.self.query.weight",
        "[bert.]encoder.layer.{i}.attention.self.query.bias",
        "[bert.]encoder.layer.{i}.attention.self.key.weight",
        "[bert.]encoder.layer.{i}.attention.self.key.bias",
        "[bert.]encoder.layer.{i}.attention.self.value.weight",
        "[bert.]encoder.layer.{i}.attention.self.value.bias",
        "[bert.]encoder.layer.{i}.attention.output.dense.weight",
        "[bert.]encoder.layer.{i}.attention.output.dense.bias",
        "[bert.]encoder.layer.{i}.attention.output.LayerNorm.weight",
        "[bert.]encoder.layer.{i}.attention.output.LayerNorm.bias",
        "[bert.]encoder.layer.{i}.intermediate.dense.weight",
        "[bert.]encoder.layer.{i}.intermediate.dense.bias",
        "[bert.]encoder.layer.{i}.output.dense.weight",
        "[bert.]encoder.layer.{i}.output.dense.bias",
        "[bert.]encoder.layer.{i}.output.LayerNorm.weight",
        "[bert.]encoder.layer.{i}.output.LayerNorm.bias",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.decoder.weight",
        "cls.predictions.bias",
      ]
    }
  }

  /// Reads config.json, the weights (checking every shape) and any sentence-transformers
  /// files, and returns the model.
  public static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(BertConfig.self)
    return try BertModel(
      config: config, weights: context.weights,
      pooling: try SentencePooling.load(folder: context.folder, hiddenSize: config.hiddenSize))
  }
}

/// `BertForMaskedLM`'s head (`BertOnlyMLMHead`):
/// logits = LayerNorm(GELU(h·W_tᵀ + b_t))·Eᵀ + bias, with E the word embedding unless
/// the checkpoint stores `cls.predictions.decoder.weight` untied.
struct BertMaskedLMHead: @unchecked Sendable {
  let transform: Linear
  let norm: LayerNormWeights
  let decoder: Weight
  let bias: Weight

  /// nil when the checkpoint has no `cls.predictions` head (sentence-transformers folders).
  init?(_ weights: Weights, config: BertConfig, wordEmbeddings: Weight) throws {
    guard weights.contains("cls.predictions.transform.dense.weight") else { return nil }
    let (v, d) = (config.vocabSize, config.hiddenSize)
    transform = try Linear(weights, "cls.predictions.transform.dense", in: d, out: d, bias: true)
    norm = try LayerNormWeights(weights, "cls.predictions.transform.LayerNorm", width: d, epsilon: config.layerNormEps)
    decoder = try weights.head("cls.predictions.decoder.weight", tiedTo: wordEmbeddings, tied: config.tieWordEmbeddings)
    // HF ties decoder.bias to cls.predictions.bias; save_pretrained keeps one of them.
    bias = try weights.tensor(
      weights.contains("cls.predictions.bias") ? "cls.predictions.bias" : "cls.predictions.decoder.bias", shape: [v])
  }

  var parameterBytes: Int {
    transform.parameterBytes + norm.parameterBytes + bias.count * MemoryLayout<Float>.size
  }

  func apply(
    _ hidden: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    into logits: UnsafeMutablePointer<Float>
  ) {
    transform.apply(hidden, rows: rows, into: scratch)
    Kernels.geluInPlace(scratch, count: rows * transform.outFeatures)
    norm.apply(scratch, rows: rows)
    let v = decoder.shape[0]
    for r in 0..<rows { (logits + r * v).update(from: bias.pointer, count: v) }
    BLAS.linear(
      scratch, rows: rows, inFeatures: transform.outFeatures, weight: decoder.pointer, outFeatures: v, into: logits,
      accumulate: true)
  }
}

/// A BERT encoder over a position-indexed KV cache, and a sentence embedder:
///
///     x = LayerNorm(word[token] + position[p] + token_type[0])      embeddings.*
///     each layer: x = BertEncoderLayer(x)                              encoder.layer.{i}.*
///     hidden = x (already layer-normed); logits = MLM head(x) when present
///
/// `embed` runs a packed batch: every matrix product over all tokens of the batch at
/// once, attention within each sequence only (bidirectional, no padding), then pooling.
final class BertModel: CachedTransformer, EmbeddingModel, @unchecked Sendable {
  let modelType = "bert"
  let config: BertConfig
  let wordEmbeddings: Weight
  /// position_embeddings + token_type_embeddings[0], [max_positions, D], summed at load.
  let positionAndType: OwnedFloats
  let embeddingNorm: LayerNormWeights
  let layers: [BertEncoderLayer]
  let head: BertMaskedLMHead?
  let pooling: SentencePooling?
  let cacheLayout: KVCacheLayout
  let info: ModelInfo

  var vocabularySize: Int { config.vocabSize }
  var hiddenSize: Int { config.hiddenSize }
  var layerCount: Int { layers.count }
  var heads: AttentionHeads { layers[0].heads }

  var logitsUnavailable: String? {
    head == nil
      ? "this bert checkpoint is an encoder only (no cls.predictions masked-LM head), so it has no logits; ask for hidden states or embeddings instead"
      : nil
  }

  init(config: BertConfig, weights: Weights, pooling: SentencePooling?) throws {
    let (v, d, p) = (config.vocabSize, config.hiddenSize, config.maxPositionEmbeddings)
    // BertForMaskedLM and BertForPreTraining checkpoints put the encoder under "bert.".
    let prefix = weights.contains("bert.embeddings.word_embeddings.weight") ? "bert." : ""
    self.config = config
    wordEmbeddings = try weights.tensor("\(prefix)embeddings.word_embeddings.weight", shape: [v, d])
    let positions = try weights.tensor("\(prefix)embeddings.position_embeddings.weight", shape: [p, d])
    let types = try weights.tensor("\(prefix)embeddings.token_type_embeddings.weight", shape: [config.typeVocabSize, d])
    positionAndType = OwnedFloats(count: p * d) { out in
      for r in 0..<p {
        for i in 0..<d { out[r * d + i] = positions.pointer[r * d + i] + types.pointer[i] }
      }
    }
    embeddingNorm = try LayerNormWeights(weights, "\(prefix)embeddings.LayerNorm", width: d, epsilon: config.layerNormEps)
    layers = try (0..<config.numHiddenLayers).map {
      try BertEncoderLayer(weights, prefix: "\(prefix)encoder.layer.\($0)", config: config)
    }
    head = try BertMaskedLMHead(weights, config: config, wordEmbeddings: wordEmbeddings)
    self.pooling = pooling
    cacheLayout = KVCacheLayout(layers: layers.count, width: d, maxPositions: p)
    let float = MemoryLayout<Float>.size
    let weightBytes =
      (wordEmbeddings.count + positions.count + types.count) * float + embeddingNorm.parameterBytes
      + layers.reduce(0) { $0 + $1.parameterBytes } + (head?.parameterBytes ?? 0)
    info = ModelInfo(
      vocabularySize: v, hiddenSize: d, maxPositions: p, maskKinds: [.causal, .bidirectional, .blockCausal],
      stateIsFixed: false, stateBytes: cacheLayout.bytesPerToken, weightBytes: weightBytes,
      embeddingSize: pooling?.embeddingSize ?? 0)
  }

  // MARK: Forward over the cache

  func layerScratchCount(rows: Int, keys: Int, gatheredKeys: Int) -> Int {  // BERT takes no key positions
    layers[0].scratchCount(rows: rows) + heads.scratchCount(rows: rows, keys: keys)
  }

  func embedTokens(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], into x: UnsafeMutablePointer<Float>) {
    let d = hiddenSize
    for (r, token) in tokens.enumerated() {
      let row = x + r * d
      row.update(from: wordEmbeddings.pointer + Int(token) * d, count: d)
      Kernels.addBias(positionAndType.pointer + positions[r] * d, to: row, rows: 1, width: d)
    }
    embeddingNorm.apply(x, rows: tokens.count)
  }

  func prepare(_ plan: CachePlan, scratch: UnsafeMutablePointer<Float>) {}

  func layer(
    _ index: Int, _ x: UnsafeMutablePointer<Float>, plan: CachePlan, cache: KVCacheState,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let n = plan.positions.count
    let d = hiddenSize
    let layer = layers[index]
    let keys = cache.keys(index)
    let values = cache.values(index)
    let attentionScratch = scratch + layer.scratchCount(rows: n)
    layer.forward(x, rows: n, scratch: scratch) { qkv, context in
      for t in 0..<n {
        let slot = plan.positions[t] * d
        (keys + slot).update(from: qkv + t * 3 * d + d, count: d)
        (values + slot).update(from: qkv + t * 3 * d + 2 * d, count: d)
      }
      heads.attend(
        queries: qkv, queryStride: 3 * d, rows: n, keys: keys, values: values, kvStride: d,
        keyCount: { plan.keyCounts[$0] }, scratch: attentionScratch, into: context, outStride: d)
    }
  }

  func finalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {}

  func logits(
    _ hidden: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    into logits: UnsafeMutablePointer<Float>
  ) {
    head?.apply(hidden, rows: rows, scratch: scratch, into: logits)
  }

  // MARK: Sentence embeddings

  func embed(_ batch: EmbeddingBatch, into embeddings: UnsafeMutablePointer<Float>) throws {
    guard let pooling else {
      throw PluginError.failedPrecondition(
        "this bert folder has no sentence-transformers modules.json, so it does not define how to pool embeddings")
    }
    let total = batch.tokens.count
    let d = hiddenSize
    for (i, token) in batch.tokens.enumerated() where token < 0 || Int(token) >= vocabularySize {
      throw PluginError.invalidArgument("token id \(token) at index \(i) is outside the vocabulary of size \(vocabularySize)")
    }
    let lengths = batch.lengths.map(Int.init)
    let longest = lengths.max() ?? 0
    guard longest <= cacheLayout.maxPositions else {
      throw PluginError.outOfRange(
        "a sequence of \(longest) tokens exceeds the model's \(cacheLayout.maxPositions) positions; truncate it first")
    }
    var positions: [Int] = []
    positions.reserveCapacity(total)
    for length in lengths { positions += 0..<length }

    // Attention runs per sequence; a batch is split in two halves (by tokens) that run
    // on two threads, each with its own scratch.
    let attentionScratchCount = heads.scratchCount(rows: longest, keys: longest)
    let starts = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
    let split = total >= 64 ? starts.firstIndex { $0 >= total / 2 }! : lengths.count
    let scratch = UnsafeMutablePointer<Float>.allocate(
      capacity: total * d + layers[0].scratchCount(rows: total) + 2 * attentionScratchCount)
    defer { scratch.deallocate() }
    let x = scratch
    let layerScratch = x + total * d
    let attentionScratch = layerScratch + layers[0].scratchCount(rows: total)

    embedTokens(batch.tokens, positions: positions, into: x)
    for layer in layers {
      if batch.isCancelled() { throw PluginError.cancelled() }
      layer.forward(x, rows: total, scratch: layerScratch) { qkv, context in
        // Each sequence attends to itself only: its rows of q, k and v, all its keys.
        func attend(_ sequences: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
          for s in sequences {
            let rows = qkv + starts[s] * 3 * d
            let length = lengths[s]
            heads.attend(
              queries: rows, queryStride: 3 * d, rows: length, keys: rows + d, values: rows + 2 * d, kvStride: 3 * d,
              keyCount: { _ in length }, scratch: scratch, into: context + starts[s] * d, outStride: d)
          }
        }
        if split > 0 && split < lengths.count {
          onTwoThreads { part in
            attend(
              part == 0 ? 0..<split : split..<lengths.count, scratch: attentionScratch + part * attentionScratchCount)
          }
        } else {
          attend(0..<lengths.count, scratch: attentionScratch)
        }
      }
    }
    for s in lengths.indices {
      pooling.pool(x + starts[s] * d, count: lengths[s], into: embeddings + s * pooling.embeddingSize)
    }
  }
}
