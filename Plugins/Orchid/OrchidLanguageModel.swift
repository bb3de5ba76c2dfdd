import ZooCore
import ZooPluginKit
import ZooProto

/// Builds `orchid` causal language models: zoo's own model around the causal Orchid
/// operator (the paper trains only bidirectional models):
///
///     h = embedding[tokens]
///     for each block i:
///         h = h + mixer_i(LayerNorm(h; norm1))            zoo's causal Orchid operator
///         h = h + fc2(GELU(fc1(LayerNorm(h; norm2))))
///     logits = LayerNorm(h; norm_f) · lm_headᵀ             (the embedding when tied)
public enum OrchidLMBuilder: ModelBuilder {
  public static var declaration: Zoo_V1_ModelType {
    let mixer = "layers.{i}.mixer."
    return .model(
      "orchid",
      description:
        "Causal language model of Orchid blocks (zoo's causal variant of the data-dependent global convolution): pre-norm LayerNorm blocks of the operator and a GELU MLP, final LayerNorm, tied or separate head. Fixed-size state per sequence: per layer the short and conditioning conv histories and three running DFTs over l_max + 1 bins; at most l_max tokens.",
      layers: [OrchidLayers.causalOperator.name],
      capabilities: .recurrent(
        decodeCost:
          "O(l_max·D) per layer, the same at every position: ≈ 4·D² + 2·D·d_inner MACs (projections, MLP) + about 60·(l_max + 1)·D flops (three running DFT updates, the conditioning network over l_max + 1 bins, two spectral sums), plus V·D MACs for the head; no re-run of the prefix"),
      config: OrchidLMConfig.declaredFields,
      weights:
        ["embedding.weight", "layers.{i}.norm1.weight", "layers.{i}.norm1.bias"]
        + OrchidLayers.weightNames.map { mixer + $0 }
        + [
          "layers.{i}.norm2.weight", "layers.{i}.norm2.bias", "layers.{i}.mlp.fc1.weight", "layers.{i}.mlp.fc1.bias",
          "layers.{i}.mlp.fc2.weight", "layers.{i}.mlp.fc2.bias", "norm_f.weight", "norm_f.bias", "lm_head.weight",
        ])
  }

  public static func load(_ context: ModelLoadContext) throws -> any Model {
    let config = try context.config(OrchidLMConfig.self)
    return try OrchidLanguageModel(config: config, weights: context.weights)
  }
}

/// One block's weights.
struct OrchidBlock: @unchecked Sendable {
  let norm1, norm1Bias: Weight
  let mixer: OrchidOperator
  let norm2, norm2Bias: Weight
  /// [d_inner, D], [d_inner], [D, d_inner], [D].
  let fc1, fc1Bias, fc2, fc2Bias: Weight
}

/// The sizes of an `orchid` sequence's state: per layer the causal operator's state
/// (`causalStateCount` floats), one layer after another.
struct OrchidStateLayout: RecurrentStateLayout {
  let layers: Int
  let layerFloats: Int

  var floatCount: Int { layers * layerFloats }
  // truncate keeps the default, which refuses: the running DFTs sum the whole prefix and
  // cannot forget tokens; re-run the prefix instead.
}

/// An `orchid` sequence's state.
typealias OrchidLMState = RecurrentModelState<OrchidStateLayout>

extension RecurrentModelState where Layout == OrchidStateLayout {
  func layer(_ i: Int) -> UnsafeMutablePointer<Float> { storage + i * layout.layerFloats }
}

/// The `orchid` language model. Weights are read-only after load; `forward` runs on
/// distinct states concurrently. A call runs as one chunk (at most l_max tokens), so a
/// prefill is one pass of the causal operator over all its rows.
final class OrchidLanguageModel: RecurrentLanguageModel, @unchecked Sendable {
  let config: OrchidLMConfig
  let embedding: Weight
  let blocks: [OrchidBlock]
  let finalNorm, finalNormBias: Weight
  /// [V, D]; the embedding itself when the checkpoint has no lm_head.weight.
  let head: Weight
  let stateLayout: OrchidStateLayout
  let info: ModelInfo

  init(config: OrchidLMConfig, weights: Weights) throws {
    self.config = config
    let (v, d, inner) = (config.vocabSize, config.dModel, config.dInner)
    embedding = try weights.tensor("embedding.weight", shape: [v, d])
    blocks = try (0..<config.nLayer).map { i in
      let p = "layers.\(i)."
      return OrchidBlock(
        norm1: try weights.tensor(p + "norm1.weight", shape: [d]), norm1Bias: try weights.tensor(p + "norm1.bias", shape: [d]),
        mixer: try OrchidOperator(weights, prefix: p + "mixer.", config: config.mixer),
        norm2: try weights.tensor(p + "norm2.weight", shape: [d]), norm2Bias: try weights.tensor(p + "norm2.bias", shape: [d]),
        fc1: try weights.tensor(p + "mlp.fc1.weight", shape: [inner, d]),
        fc1Bias: try weights.tensor(p + "mlp.fc1.bias", shape: [inner]),
        fc2: try weights.tensor(p + "mlp.fc2.weight", shape: [d, inner]),
        fc2Bias: try weights.tensor(p + "mlp.fc2.bias", shape: [d]))
    }
    finalNorm = try weights.tensor("norm_f.weight", shape: [d])
    finalNormBias = try weights.tensor("norm_f.bias", shape: [d])
    head = try weights.head(tiedTo: embedding)
    stateLayout = OrchidStateLayout(layers: blocks.count, layerFloats: blocks[0].mixer.causalStateCount)
    let floatBytes = MemoryLayout<Float>.size
    let blockBytes = blocks.reduce(0) { $0 + $1.mixer.weightBytes + (4 * d + 2 * inner * d + inner + d) * floatBytes }
    let headBytes = head === embedding ? 0 : head.count * floatBytes
    info = ModelInfo(
      vocabularySize: v, hiddenSize: d, maxPositions: config.mixer.lMax, maskKinds: [.causal], stateIsFixed: true,
      stateBytes: stateLayout.floatCount * floatBytes,
      weightBytes: (embedding.count + 2 * d) * floatBytes + headBytes + blockBytes)
  }

  var modelType: String { "orchid" }

  /// Every call in one chunk: `checkLength` keeps calls within l_max tokens.
  var prefillChunkRows: Int { config.mixer.lMax }

  /// Scratch floats for `rows` tokens: residual, normalised rows, mixer output, MLP
  /// hidden, then the operator's own.
  func scratchCount(rows: Int) -> Int {
    rows * (3 * config.dModel + config.dInner) + blocks[0].mixer.causalScratchCount(rows: rows)
  }

  func maskRefusal(_ mask: MaskKind) -> String {
    "orchid is a causal language model and supports only the causal mask, not \(mask); the bidirectional Orchid operator is the layer kind 'orchid_operator' for encoders"
  }

  func stateSummary(length: Int) -> String { "keeps running sums over \(length) tokens" }

  /// The operator's kernels are l_max long: no sequence goes past them.
  func checkLength(_ length: Int, adding n: Int) throws {
    guard length + n <= config.mixer.lMax else {
      throw PluginError.outOfRange(
        "orchid reads at most l_max = \(config.mixer.lMax) tokens; the sequence would reach \(length + n)")
    }
  }

  /// Runs tokens start..<start+n through every block and writes their outputs.
  func runChunk(
    _ input: ForwardInput, start: Int, rows n: Int, state: OrchidLMState, scratch: UnsafeMutablePointer<Float>,
    output: ForwardOutput, pollCancel: Bool
  ) throws {
    let (d, inner, eps) = (config.dModel, config.dInner, config.layerNormEpsilon)
    let residual = scratch
    let normed = residual + n * d
    let mixed = normed + n * d
    let hidden = mixed + n * d
    let mixerScratch = hidden + n * inner
    for r in 0..<n {
      (residual + r * d).update(from: embedding.pointer + Int(input.tokens[start + r]) * d, count: d)
    }
    for (i, block) in blocks.enumerated() {
      if pollCancel, input.isCancelled() { throw PluginError.cancelled() }
      Kernels.layerNorm(
        residual, rows: n, width: d, weight: block.norm1.pointer, bias: block.norm1Bias.pointer, epsilon: eps, into: normed)
      block.mixer.forwardCausal(
        normed, rows: n, position: state.length + start, state: state.layer(i), scratch: mixerScratch, into: mixed)
      for j in 0..<(n * d) { residual[j] += mixed[j] }
      Kernels.layerNorm(
        residual, rows: n, width: d, weight: block.norm2.pointer, bias: block.norm2Bias.pointer, epsilon: eps, into: normed)
      BLAS.linear(normed, rows: n, inFeatures: d, weight: block.fc1.pointer, outFeatures: inner, into: hidden)
      addRowBias(block.fc1Bias.pointer, to: hidden, rows: n, width: inner)
      Kernels.geluInPlace(hidden, count: n * inner)
      BLAS.linear(hidden, rows: n, inFeatures: inner, weight: block.fc2.pointer, outFeatures: d, into: residual, accumulate: true)
      addRowBias(block.fc2Bias.pointer, to: residual, rows: n, width: d)
    }
    Kernels.layerNorm(
      residual, rows: n, width: d, weight: finalNorm.pointer, bias: finalNormBias.pointer, epsilon: eps, into: normed)
    output.hidden.map { ($0 + start * d).update(from: normed, count: n * d) }
    guard let logits = output.logits else { return }
    let v = config.vocabSize
    if let rows = input.logitRows {
      for k in 0..<rows.count where rows[k] >= start && rows[k] < start + n {
        BLAS.linear(
          normed + (Int(rows[k]) - start) * d, rows: 1, inFeatures: d, weight: head.pointer, outFeatures: v,
          into: logits + k * v)
      }
    } else {
      BLAS.linear(normed, rows: n, inFeatures: d, weight: head.pointer, outFeatures: v, into: logits + start * v)
    }
  }
}
