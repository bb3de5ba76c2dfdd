import Foundation
import ZooCore
import ZooPluginKit

/// The Mamba-2 (SSD) mixer of one block (transformers 5.23.0 modeling_mamba2.py,
/// `Mamba2Mixer`; Dao & Gu 2024). For normalised input rows u [L, D], with d_inner = E·D
/// = H·P channels, G groups and state size N:
///
///     [z | xBC | δ] = u · in_projᵀ               (z: d_inner, xBC: d_inner + 2GN, δ: H)
///     [x | B | C]   = SiLU(causal depthwise conv_K(xBC) + conv_bias)
///     Δ[t,h]        = clamp(softplus(δ[t,h] + dt_bias[h]), time_step_limit)
///     S[h]         ← exp(Δ[t,h]·A[h]) · S[h] + Δ[t,h] · x[t,h] ⊗ B[t,g(h)],  A = −exp(A_log)
///     y[t,h]        = S[h] · C[t,g(h)] + D[h] · x[t,h]
///     y             = norm.weight ⊙ RMSNorm_groups(y ⊙ SiLU(z))      (norm_before_gate=False)
///     out           = y · out_projᵀ
///
/// State per sequence: the last K pre-conv xBC inputs and S [H, P, N].
///
/// Immutable after init, with read-only pointers: hence `@unchecked Sendable`.
final class Mamba2Mixer: RecurrentMixer, @unchecked Sendable {
  let hiddenSize: Int
  let innerSize: Int
  let heads: Int
  let headDim: Int
  let groups: Int
  let stateSize: Int
  let kernelSize: Int
  let epsilon: Float
  let timeStepMin: Float
  let timeStepMax: Float

  /// [d_inner + convDim + H, D]; output split [z | xBC | δ].
  let inProj: Linear
  /// conv1d.weight [convDim, 1, K] transposed to [K, convDim].
  let convWeight: OwnedFloats
  let convBias: Weight?
  /// dt_bias [H].
  let dtBias: Weight
  /// A = −exp(A_log) [H].
  let negA: OwnedFloats
  /// D [H].
  let skip: Weight
  /// Gated RMSNorm weight [d_inner].
  let norm: Weight
  /// [D, d_inner].
  let outProj: Linear

  /// Reads layer `layer`'s mixer weights (`backbone.layers.{layer}.mixer.*`), checking
  /// every shape against the config; in_proj and out_proj are copied into `arena` when
  /// one is given.
  init(layer: Int, config: Mamba2Config, weights: Weights, arena: HugePageArena?) throws {
    let prefix = "backbone.layers.\(layer).mixer."
    let d = config.hiddenSize
    let inner = config.intermediateSize
    let h = config.numHeads
    let k = config.convKernel
    let convDim = config.convDim
    hiddenSize = d
    innerSize = inner
    heads = h
    headDim = config.headDim
    groups = config.nGroups
    stateSize = config.stateSize
    kernelSize = k
    epsilon = config.layerNormEpsilon
    (timeStepMin, timeStepMax) = config.timeStepBounds

    // The projection matrices are read in place or copied into huge-page memory.
    let keep = arena.map { arena in { (matrix: WeightMatrix) in arena.place(matrix) } }
    inProj = try Linear(weights, prefix + "in_proj", in: d, out: config.inProjSize, bias: config.useBias, keep: keep)
    let conv = try weights.tensor(prefix + "conv1d.weight", shape: [convDim, 1, k])
    convWeight = OwnedFloats(count: k * convDim) { dst in
      for c in 0..<convDim {
        for w in 0..<k { dst[w * convDim + c] = conv.pointer[c * k + w] }
      }
    }
    convBias = try weights.optionalTensor(prefix + "conv1d.bias", shape: [convDim], present: config.useConvBias)
    dtBias = try weights.tensor(prefix + "dt_bias", shape: [h])
    let aLog = try weights.tensor(prefix + "A_log", shape: [h])
    negA = OwnedFloats(count: h) { dst in
      for i in 0..<h { dst[i] = -expf(aLog.pointer[i]) }
    }
    skip = try weights.tensor(prefix + "D", shape: [h])
    norm = try weights.tensor(prefix + "norm.weight", shape: [inner])
    outProj = try Linear(weights, prefix + "out_proj", in: inner, out: d, bias: config.useBias, keep: keep)
  }

  /// Channels of the convolution: x, B and C.
  private var convDim: Int { innerSize + 2 * groups * stateSize }
  /// Width of in_proj's output.
  private var projectedWidth: Int { innerSize + convDim + heads }

  var convStateCount: Int { kernelSize * convDim }
  var ssmStateCount: Int { heads * headDim * stateSize }

  var weightBytes: Int {
    let floats = [convWeight.count, convBias?.count ?? 0, dtBias.count, negA.count, skip.count, norm.count]
    return inProj.parameterBytes + outProj.parameterBytes + floats.reduce(0, +) * MemoryLayout<Float>.size
  }

  // Scratch layout per chunk: projected [L, d_inner + convDim + H] | xBC' [L, convDim] |
  // Δ [L, H] | decay [L, H] | y [L, d_inner].
  func scratchCount(rows: Int) -> Int {
    rows * (projectedWidth + convDim + 2 * heads + innerSize)
  }

  func forward(
    _ normed: UnsafePointer<Float>, rows: Int, states: MixerStates, scratch: UnsafeMutablePointer<Float>,
    addingInto residual: UnsafeMutablePointer<Float>
  ) {
    let inner = innerSize
    let width = projectedWidth
    let projected = scratch
    let xbc = projected + rows * width
    let dt = xbc + rows * convDim
    let decay = dt + rows * heads
    let y = decay + rows * heads

    inProj.apply(normed, rows: rows, into: projected)

    let perSequence = states.conv.rowsPerSequence
    states.conv.forEachSequence { _, first, history in
      Kernels.causalDepthwiseConv1d(
        projected + first * width + inner, rows: perSequence, channels: convDim, inputStride: width,
        history: history, kernelSize: kernelSize, weight: convWeight.pointer, bias: convBias?.pointer,
        applySiLU: true, into: xbc + first * convDim, outputStride: convDim)
    }

    for t in 0..<rows {
      let raw = projected + t * width + inner + convDim
      for h in 0..<heads {
        let delta = min(max(Kernels.softplus(raw[h] + dtBias.pointer[h]), timeStepMin), timeStepMax)
        dt[t * heads + h] = delta
        decay[t * heads + h] = expf(delta * negA.pointer[h])
      }
    }

    let groupWidth = groups * stateSize
    states.ssm.forEachSequence { _, first, ssmState in
      let x = xbc + first * convDim
      Mamba2Scan(
        rows: perSequence, heads: heads, headDim: headDim, stateSize: stateSize, groups: groups, x: x,
        xStride: convDim, b: x + inner, c: x + inner + groupWidth, bcStride: convDim, dt: dt + first * heads,
        decay: decay + first * heads, skip: skip.pointer, state: ssmState, y: y + first * inner
      ).run()
    }

    gatedNorm(y, gate: projected, gateStride: width, rows: rows)

    outProj.apply(y, rows: rows, into: residual, accumulate: true)
  }

  /// `MambaRMSNormGated` with norm_before_gate=False, in place on y [rows, d_inner]:
  /// y ← w ⊙ RMSNorm(y ⊙ SiLU(z)), the RMS taken over each group of d_inner / G channels.
  private func gatedNorm(_ y: UnsafeMutablePointer<Float>, gate z: UnsafePointer<Float>, gateStride: Int, rows: Int) {
    let inner = innerSize
    let groupSize = inner / groups
    for t in 0..<rows {
      let row = y + t * inner
      let gateRow = z + t * gateStride
      var c = 0
      while c + 8 <= inner {
        Kernels.store8(Kernels.load8(row + c) * Kernels.silu(Kernels.load8(gateRow + c)), row + c)
        c += 8
      }
      while c < inner {
        row[c] *= Kernels.silu(gateRow[c])
        c += 1
      }
      for g in 0..<groups {
        let start = g * groupSize
        Kernels.rmsNorm(
          row + start, rows: 1, width: groupSize, weight: norm.pointer + start, epsilon: epsilon, into: row + start)
      }
    }
  }
}
