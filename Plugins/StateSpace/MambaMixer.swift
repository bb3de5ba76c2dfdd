import Foundation
import ZooCore
import ZooPluginKit

/// The Mamba-1 mixer of one block (transformers 5.23.0 modeling_mamba.py, `MambaMixer`;
/// Gu & Dao 2023). For normalised input rows u [L, D], with d_inner = E·D channels:
///
///     [x | z]     = u · in_projᵀ                              (x, z: [L, d_inner])
///     x'          = SiLU(causal depthwise conv_K(x) + conv_bias)
///     [δ | B | C] = x' · x_projᵀ                               (δ: R, B and C: N each)
///     Δ           = softplus(δ · dt_projᵀ + dt_proj.bias)
///     h_t         = exp(Δ_t ⊗ A) ⊙ h_{t−1} + (Δ_t ⊙ x'_t) ⊗ B_t,   A = −exp(A_log)
///     y_t         = (h_t · C_t + D ⊙ x'_t) ⊙ SiLU(z_t)
///     out         = y · out_projᵀ
///
/// State per sequence: the last K pre-conv inputs x and h [d_inner, N] (kept n-major).
///
/// Immutable after init, with read-only pointers: hence `@unchecked Sendable`.
final class MambaMixer: RecurrentMixer, @unchecked Sendable {
  let hiddenSize: Int
  let innerSize: Int
  let stateSize: Int
  let dtRank: Int
  let kernelSize: Int

  /// [2·d_inner, D]; output split [x | z].
  let inProj: Linear
  /// conv1d.weight [d_inner, 1, K] transposed to [K, d_inner].
  let convWeight: OwnedFloats
  let convBias: Weight?
  /// [R + 2N, d_inner]; output split [δ | B | C].
  let xProj: Linear
  /// [d_inner, R]; its bias is added inside the scan, after the product.
  let dtProj: Linear
  /// [d_inner].
  let dtProjBias: Weight
  /// A·log2(e) with A = −exp(A_log); A_log [d_inner, N] transposed to [N, d_inner]. The
  /// scan computes exp(Δ·A) as 2^(Δ·A·log2 e).
  let negALog2e: OwnedFloats
  /// D [d_inner].
  let skip: Weight
  /// [D, d_inner].
  let outProj: Linear

  /// Reads layer `layer`'s mixer weights (`backbone.layers.{layer}.mixer.*`), checking
  /// every shape against the config; the projection matrices are copied into `arena`
  /// when one is given.
  init(layer: Int, config: MambaConfig, weights: Weights, arena: HugePageArena?) throws {
    let prefix = "backbone.layers.\(layer).mixer."
    let d = config.hiddenSize
    let inner = config.intermediateSize
    let n = config.stateSize
    let r = config.dtRank
    let k = config.convKernel
    hiddenSize = d
    innerSize = inner
    stateSize = n
    dtRank = r
    kernelSize = k

    // The projection matrices are read in place or copied into huge-page memory.
    let keep = arena.map { arena in { (matrix: WeightMatrix) in arena.place(matrix) } }
    inProj = try Linear(weights, prefix + "in_proj", in: d, out: 2 * inner, bias: config.useBias, keep: keep)
    let conv = try weights.tensor(prefix + "conv1d.weight", shape: [inner, 1, k])
    convWeight = OwnedFloats(count: k * inner) { dst in
      for c in 0..<inner {
        for w in 0..<k { dst[w * inner + c] = conv.pointer[c * k + w] }
      }
    }
    convBias = try weights.optionalTensor(prefix + "conv1d.bias", shape: [inner], present: config.useConvBias)
    xProj = try Linear(weights, prefix + "x_proj", in: inner, out: r + 2 * n, bias: false, keep: keep)
    dtProj = try Linear(weights, prefix + "dt_proj", in: r, out: inner, bias: false, keep: keep)
    dtProjBias = try weights.tensor(prefix + "dt_proj.bias", shape: [inner])
    let aLog = try weights.tensor(prefix + "A_log", shape: [inner, n])
    negALog2e = OwnedFloats(count: n * inner) { dst in
      for c in 0..<inner {
        for i in 0..<n { dst[i * inner + c] = Float(-Foundation.exp(Double(aLog.pointer[c * n + i])) / M_LN2) }
      }
    }
    skip = try weights.tensor(prefix + "D", shape: [inner])
    outProj = try Linear(weights, prefix + "out_proj", in: inner, out: d, bias: config.useBias, keep: keep)
  }

  var convStateCount: Int { kernelSize * innerSize }
  var ssmStateCount: Int { stateSize * innerSize }

  var weightBytes: Int {
    let floats = [convWeight.count, convBias?.count ?? 0, dtProjBias.count, negALog2e.count, skip.count]
    return [inProj, xProj, dtProj, outProj].reduce(0) { $0 + $1.parameterBytes }
      + floats.reduce(0, +) * MemoryLayout<Float>.size
  }

  /// Width of x_proj's output, [δ | B | C].
  private var projectedWidth: Int { dtRank + 2 * stateSize }

  // Scratch layout per chunk: xz [L, 2·d_inner] | x' [L, d_inner] | δBC [L, R + 2N] |
  // Δ (pre-softplus) [L, d_inner] | y [L, d_inner].
  func scratchCount(rows: Int) -> Int {
    rows * (5 * innerSize + projectedWidth)
  }

  func forward(
    _ normed: UnsafePointer<Float>, rows: Int, states: MixerStates, scratch: UnsafeMutablePointer<Float>,
    addingInto residual: UnsafeMutablePointer<Float>
  ) {
    let inner = innerSize
    let xz = scratch
    let xConv = xz + rows * 2 * inner
    let dbc = xConv + rows * inner
    let dt = dbc + rows * projectedWidth
    let y = dt + rows * inner

    inProj.apply(normed, rows: rows, into: xz)

    let perSequence = states.conv.rowsPerSequence
    states.conv.forEachSequence { _, first, history in
      Kernels.causalDepthwiseConv1d(
        xz + first * 2 * inner, rows: perSequence, channels: inner, inputStride: 2 * inner, history: history,
        kernelSize: kernelSize, weight: convWeight.pointer, bias: convBias?.pointer, applySiLU: true,
        into: xConv + first * inner, outputStride: inner)
    }

    xProj.apply(xConv, rows: rows, into: dbc)
    // Δ before bias = δ · dt_projᵀ, reading δ as the first R columns of δBC.
    dtProj.apply(dbc, ldx: projectedWidth, rows: rows, into: dt)

    states.ssm.forEachSequence { _, first, ssmState in
      Mamba1Scan(
        rows: perSequence, channels: inner, stateSize: stateSize, x: xConv + first * inner,
        dtRaw: dt + first * inner, dtBias: dtProjBias.pointer, bc: dbc + first * projectedWidth + dtRank,
        bcStride: projectedWidth, z: xz + first * 2 * inner + inner, zStride: 2 * inner,
        negALog2e: negALog2e.pointer, skip: skip.pointer, state: ssmState, y: y + first * inner
      ).run()
    }

    outProj.apply(y, rows: rows, into: residual, accumulate: true)
  }
}
