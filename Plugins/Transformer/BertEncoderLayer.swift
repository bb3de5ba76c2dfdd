import Foundation
import ZooCore
import ZooPluginKit

/// A LayerNorm's `weight` and `bias` [width] and its epsilon.
struct LayerNormWeights: @unchecked Sendable {
  let weight, bias: Weight
  let epsilon: Float

  /// `{prefix}.weight` and `{prefix}.bias`.
  init(_ weights: Weights, _ prefix: String, width: Int, epsilon: Float) throws {
    weight = try weights.tensor("\(prefix).weight", shape: [width])
    bias = try weights.tensor("\(prefix).bias", shape: [width])
    self.epsilon = epsilon
  }

  /// Normalises `rows` rows of `x` in place.
  func apply(_ x: UnsafeMutablePointer<Float>, rows: Int) {
    Kernels.layerNorm(
      x, rows: rows, width: weight.count, weight: weight.pointer, bias: bias.pointer, epsilon: epsilon, into: x)
  }

  var parameterBytes: Int { 2 * weight.count * MemoryLayout<Float>.size }
}

/// One BERT encoder layer as Hugging Face `BertLayer` (modeling_bert.py), post-LayerNorm:
///
///     [q | k | v] = x·[W_q; W_k; W_v]ᵀ + b         attention.self.{query,key,value}
///     c = MultiHeadAttention(q, k, v)                  (how keys are found is the caller's: cache or batch)
///     a = LayerNorm(x + c·W_aoᵀ + b_ao)                attention.output.{dense,LayerNorm}
///     h = GELU(a·W_iᵀ + b_i)                           intermediate.dense, exact erf GELU
///     x' = LayerNorm(a + h·W_oᵀ + b_o)                 output.{dense,LayerNorm}
///
/// q, k and v are fused into one [3D, D] matrix at load: one GEMM over every token of
/// a call or a packed batch.
final class BertEncoderLayer: @unchecked Sendable {
  let heads: AttentionHeads
  let qkv: Linear
  let attentionOutput: Linear
  let attentionNorm: LayerNormWeights
  let intermediate: Linear
  let output: Linear
  let outputNorm: LayerNormWeights

  /// Loads `{prefix}.attention...`, `intermediate...` and `output...` (prefix e.g.
  /// "encoder.layer.0").
  init(_ weights: Weights, prefix p: String, config: BertConfig) throws {
    let d = config.hiddenSize
    let i = config.intermediateSize
    let eps = config.layerNormEps
    heads = AttentionHeads(
      heads: config.numAttentionHeads, kvHeads: config.numAttentionHeads, headDim: d / config.numAttentionHeads)
    qkv = Linear(fusing: try ["query", "key", "value"].map {
      try Linear(weights, "\(p).attention.self.\($0)", in: d, out: d, bias: true)
    })
    attentionOutput = try Linear(weights, "\(p).attention.output.dense", in: d, out: d, bias: true)
    attentionNorm = try LayerNormWeights(weights, "\(p).attention.output.LayerNorm", width: d, epsilon: eps)
    intermediate = try Linear(weights, "\(p).intermediate.dense", in: d, out: i, bias: true)
    output = try Linear(weights, "\(p).output.dense", in: i, out: d, bias: true)
    outputNorm = try LayerNormWeights(weights, "\(p).output.LayerNorm", width: d, epsilon: eps)
  }

  var parameterBytes: Int {
    [qkv, attentionOutput, intermediate, output].reduce(0) { $0 + $1.parameterBytes }
      + attentionNorm.parameterBytes + outputNorm.parameterBytes
  }

  /// Scratch floats for `rows` tokens, besides what `attend` uses: the q|k|v rows (later
  /// reused for the intermediate rows) and the attention context.
  func scratchCount(rows: Int) -> Int {
    rows * (max(qkv.outFeatures, intermediate.outFeatures) + attentionOutput.inFeatures)
  }

  /// Runs the layer in place on `x` [rows, D]. `attend(qkv, context)` reads the q|k|v rows
  /// [rows, 3D] and writes the attention output [rows, D].
  func forward(
    _ x: UnsafeMutablePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    attend: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) {
    let projected = scratch
    let context = scratch + rows * max(qkv.outFeatures, intermediate.outFeatures)
    qkv.apply(x, rows: rows, into: projected)
    attend(projected, context)
    attentionOutput.apply(context, rows: rows, into: x, accumulate: true)
    attentionNorm.apply(x, rows: rows)
    intermediate.apply(x, rows: rows, into: projected)
    let count = rows * intermediate.outFeatures
    if count >= 1 << 16 {
      // GELU is the largest cost outside the GEMMs, which use both cores; so does this.
      let half = count / 2
      onTwoThreads { part in Kernels.geluInPlace(projected + part * half, count: part == 0 ? half : count - half) }
    } else {
      Kernels.geluInPlace(projected, count: count)
    }
    output.apply(projected, rows: rows, into: x, accumulate: true)
    outputNorm.apply(x, rows: rows)
  }
}

/// Runs `body(0)` and `body(1)` on two threads and waits for both. The parts must touch
/// disjoint memory. (concurrentPerform allocates: for batches and prefills only.)
func onTwoThreads(_ body: (Int) -> Void) {
  withoutActuallyEscaping(body) { body in
    nonisolated(unsafe) let part = body
    DispatchQueue.concurrentPerform(iterations: 2) { part($0) }
  }
}
