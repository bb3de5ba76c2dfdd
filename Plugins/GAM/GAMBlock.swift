import Foundation
import ZooCore
import ZooPluginKit

/// One Gated Associative Memory block (official `GAMBlock.forward`, rishiraj/gam @ 2ebb82e,
/// gam_model.py; Acharya 2025, arXiv 2509.00605 §3). For input rows x [L, D]:
///
///     x̂        = LayerNorm₁(x)                                     (eps 1e-5)
///     local_t  = b_c + Σ_{w<k} W_c[:, 0, w] ⊙ x̂_{t−k+1+w}           (causal depthwise conv, no activation)
///     global_t = softmax(x̂_t · Mᵀ) · M                             (M: memory_bank [S, D], no 1/√D)
///     [g_l | g_g] = x̂ · W_gᵀ + b_g                                  (gate: Linear(D, 2D), local half first)
///     x        = x + σ(g_l) ⊙ local + σ(g_g) ⊙ global
///     x        = x + W₂ · GELU(W₁ · LayerNorm₂(x) + b₁) + b₂          (exact GELU; dropout off)
///
/// The memory pathway is per token, so the only mixing across positions is the
/// convolution: a sequence's state is the last k − 1 rows of x̂ (the `window`).
///
/// Immutable after init, with read-only pointers: hence `@unchecked Sendable`.
final class GAMBlock: @unchecked Sendable {
  let width: Int
  let slots: Int
  let kernelSize: Int

  let ln1Weight, ln1Bias, ln2Weight, ln2Bias: Weight
  /// causal_conv.weight [D, 1, k] transposed to [k, D], the layout of the ZooCore kernel.
  let convWeight: [Float]
  let convBias: Weight
  /// memory_bank [S, D].
  let memory: Weight
  /// gate.weight [2D, D], gate.bias [2D].
  let gate, gateBias: Weight
  /// ffn.0 (Linear(D, 4D)) and ffn.2 (Linear(4D, D)); ffn.1 is the GELU, ffn.3 the dropout.
  let up, upBias, down, downBias: Weight

  /// Reads the block's weights named `prefix` + the official GAMBlock keys (prefix
  /// "blocks.{i}." in a GAM_Model, "" for a bare GAMBlock), checking every shape.
  init(prefix: String, config: GAMConfig, weights: Weights) throws {
    let d = config.embeddingSize
    let k = config.convKernelSize
    width = d
    slots = config.memorySlots
    kernelSize = k
    func tensor(_ name: String, _ shape: [Int]) throws -> Weight { try weights.tensor(prefix + name, shape: shape) }
    ln1Weight = try tensor("ln1.weight", [d])
    ln1Bias = try tensor("ln1.bias", [d])
    ln2Weight = try tensor("ln2.weight", [d])
    ln2Bias = try tensor("ln2.bias", [d])
    let conv = try tensor("causal_conv.weight", [d, 1, k])
    convWeight = (0..<k * d).map { i in conv.pointer[(i % d) * k + i / d] }
    convBias = try tensor("causal_conv.bias", [d])
    memory = try tensor("memory_bank", [slots, d])
    gate = try tensor("gate.weight", [2 * d, d])
    gateBias = try tensor("gate.bias", [2 * d])
    up = try tensor("ffn.0.weight", [4 * d, d])
    upBias = try tensor("ffn.0.bias", [4 * d])
    down = try tensor("ffn.2.weight", [d, 4 * d])
    downBias = try tensor("ffn.2.bias", [d])
  }

  /// Rows of x̂ a sequence carries between calls.
  var windowRows: Int { kernelSize - 1 }

  var weightBytes: Int {
    let counts = [
      ln1Weight, ln1Bias, ln2Weight, ln2Bias, convBias, memory, gate, gateBias, up, upBias, down, downBias,
    ].reduce(convWeight.count) { $0 + $1.count }
    return counts * MemoryLayout<Float>.size
  }

  // Scratch per call: x̂ [L, D] | local [L, D] | global [L, D] | gates [L, 2D] |
  // wide [L, max(S, 4D)], the memory scores and then the FFN's hidden rows.
  func scratchCount(rows: Int) -> Int {
    rows * (5 * width + max(slots, 4 * width))
  }

  /// Runs the block in place on `x` [rows, D], whose rows are the sequences' of
  /// `windows` (one sequence's consecutive tokens, or one token of each sequence in a
  /// batched step). Each sequence's window [k − 1, D] holds the x̂ rows before its rows
  /// (oldest first, zeros at the start of a sequence) and afterwards the last k − 1
  /// including them.
  func forward(
    _ x: UnsafeMutablePointer<Float>, rows: Int, windows: LayerStates, scratch: UnsafeMutablePointer<Float>
  ) {
    let d = width
    let normed = scratch
    let local = normed + rows * d
    let global = local + rows * d
    let gates = global + rows * d
    let wide = gates + rows * 2 * d
    let eps = GAMConfig.layerNormEpsilon

    Kernels.layerNorm(x, rows: rows, width: d, weight: ln1Weight.pointer, bias: ln1Bias.pointer, epsilon: eps, into: normed)
    convWeight.withUnsafeBufferPointer { w in
      windows.forEachSequence { _, first, window in
        Kernels.causalDepthwiseConv1d(
          normed + first * d, rows: windows.rowsPerSequence, channels: d, inputStride: d, history: window,
          kernelSize: kernelSize, weight: w.baseAddress!, bias: convBias.pointer, applySiLU: false,
          into: local + first * d, outputStride: d, historyRows: windowRows)
      }
    }

    // Memory retrieval: softmax over the S slots of x̂·Mᵀ, then the weighted sum of slots.
    BLAS.linear(normed, rows: rows, inFeatures: d, weight: memory.pointer, outFeatures: slots, into: wide)
    for r in 0..<rows { Kernels.softmaxInPlace(wide + r * slots, count: slots) }
    if rows == 1 {
      // One row (decode): Mᵀ·p as a GEMV, which streams M once; sgemm would first pack M.
      BLAS.gemv(transpose: true, m: slots, n: d, memory.pointer, lda: d, wide, global)
    } else {
      BLAS.gemm(
        transA: false, transB: false, m: rows, n: d, k: slots, wide, lda: slots, memory.pointer, ldb: d, global, ldc: d)
    }

    BLAS.linear(normed, rows: rows, inFeatures: d, weight: gate.pointer, outFeatures: 2 * d, into: gates)
    Kernels.addBias(gateBias.pointer, to: gates, rows: rows, width: 2 * d)
    for r in 0..<rows {
      fuse(
        into: x + r * d, local: local + r * d, global: global + r * d, localGate: gates + r * 2 * d,
        globalGate: gates + r * 2 * d + d)
    }

    // FFN on LayerNorm₂(x), added to the residual (its down-projection accumulates into x).
    Kernels.layerNorm(x, rows: rows, width: d, weight: ln2Weight.pointer, bias: ln2Bias.pointer, epsilon: eps, into: normed)
    BLAS.linear(normed, rows: rows, inFeatures: d, weight: up.pointer, outFeatures: 4 * d, into: wide)
    Kernels.addBias(upBias.pointer, to: wide, rows: rows, width: 4 * d)
    Kernels.geluInPlace(wide, count: rows * 4 * d)
    BLAS.linear(wide, rows: rows, inFeatures: 4 * d, weight: down.pointer, outFeatures: d, into: x, accumulate: true)
    Kernels.addBias(downBias.pointer, to: x, rows: rows, width: d)
  }

  /// `x += σ(localGate) ⊙ local + σ(globalGate) ⊙ global` over one row.
  private func fuse(
    into x: UnsafeMutablePointer<Float>, local: UnsafePointer<Float>, global: UnsafePointer<Float>,
    localGate: UnsafePointer<Float>, globalGate: UnsafePointer<Float>
  ) {
    var c = 0
    while c + 8 <= width {
      let fused =
        Kernels.sigmoid(Kernels.load8(localGate + c)) * Kernels.load8(local + c)
        + Kernels.sigmoid(Kernels.load8(globalGate + c)) * Kernels.load8(global + c)
      Kernels.store8(Kernels.load8(x + c) + fused, x + c)
      c += 8
    }
    while c < width {
      x[c] += local[c] / (1 + expf(-localGate[c])) + global[c] / (1 + expf(-globalGate[c]))
      c += 1
    }
  }
}
