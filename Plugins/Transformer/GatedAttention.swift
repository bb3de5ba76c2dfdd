import Foundation
import ZooCore
import ZooPluginKit

/// The attention-output gate of Qiu et al. 2025, "Gated Attention for Large Language
/// Models" (arXiv 2505.06708, their G1 position): `Y_h = SDPA_h ⊙ σ(gate_h)` after
/// attention, before o_proj.
enum AttentionOutputGate: Sendable {
  /// Plain Qwen3.
  case none
  /// One gate logit per head, broadcast over head_dim.
  case headwise
  /// head_dim gate logits per head.
  case elementwise

  /// Gate logits per head.
  func width(headDim: Int) -> Int {
    switch self {
    case .none: 0
    case .headwise: 1
    case .elementwise: headDim
    }
  }
}

/// The attention of one decoder layer, as given by a family's config.json.
struct AttentionShape: Sendable {
  var hidden: Int
  var heads: Int
  var kvHeads: Int
  var headDim: Int
  /// Biases on q, k and v (Qwen2, Dream, LLaDA's include_qkv_bias, Llama's attention_bias).
  var qkvBias: Bool
  /// A bias on the output projection (Llama's and Qwen3's attention_bias; not Qwen2's).
  var outputBias: Bool
  /// RMSNorm of q and k per head before RoPE (Qwen3).
  var qkNorm: Bool
  var gate: AttentionOutputGate
  var epsilon: Float
}

/// The weight names of one layer's attention under its prefix; Hugging Face's by default.
struct AttentionWeightNames: Sendable {
  var query = "q_proj", key = "k_proj", value = "v_proj", output = "o_proj"
  var queryNorm = "q_norm", keyNorm = "k_norm"
}

/// One sequence's part of an attention call: its rows (from `firstRow`, one per
/// position of its plan) and its layer's cached keys and values.
struct AttendedSequence {
  let plan: CachePlan
  let keys, values: UnsafeMutablePointer<Float>
  let firstRow: Int
}

/// Grouped-query self-attention of the Llama family with Qwen3's options: Hugging Face
/// `LlamaAttention`, `Qwen2Attention`, `Qwen3Attention` (and LLaDA's, which is Llama's
/// under other names), and with the output gate qiuzh20/gated_attention
/// `modeling_qwen3.py` `Qwen3Attention` (eager):
///
///     [q | gates] = x·W_qᵀ (+b)   per KV group g: [G·hd queries of heads gG..gG+G−1 | G·w gate logits]
///     k = x·W_kᵀ (+b), v = x·W_vᵀ (+b)
///     q, k ← RMSNorm over head_dim (q_norm, k_norm), then RoPE (rotate-half), at each token's position
///     o_h = SDPA(q_h, K, V of KV head h / G) by position under the call's mask
///     o_h ← o_h ⊙ σ(gate_h)       (w = 1: one scalar per head; w = hd: per element)
///     out = concat_h(o_h)·W_oᵀ (+b)
///
/// The q_proj rows are grouped per KV group, not per head (the fixtures' READMEs):
/// with w = 0 this is the plain [H·hd] layout.
final class GatedAttention: @unchecked Sendable {
  let heads: AttentionHeads
  let gate: AttentionOutputGate
  let query, key, value, output: Linear
  let queryNorm, keyNorm: Weight?
  let epsilon: Float

  /// Loads the projections (and, with qk-norm, the norms) named by `names` under
  /// `prefix` (e.g. "model.layers.0.self_attn").
  init(_ weights: Weights, prefix: String, shape: AttentionShape, names: AttentionWeightNames = .init()) throws {
    let d = shape.hidden
    heads = AttentionHeads(heads: shape.heads, kvHeads: shape.kvHeads, headDim: shape.headDim)
    gate = shape.gate
    let hd = heads.headDim
    let bias = shape.qkvBias
    query = try Linear(
      weights, "\(prefix).\(names.query)", in: d, out: heads.queryWidth + heads.heads * gate.width(headDim: hd), bias: bias)
    key = try Linear(weights, "\(prefix).\(names.key)", in: d, out: heads.kvWidth, bias: bias)
    value = try Linear(weights, "\(prefix).\(names.value)", in: d, out: heads.kvWidth, bias: bias)
    output = try Linear(weights, "\(prefix).\(names.output)", in: heads.queryWidth, out: d, bias: shape.outputBias)
    queryNorm = shape.qkNorm ? try weights.tensor("\(prefix).\(names.queryNorm).weight", shape: [hd]) : nil
    keyNorm = shape.qkNorm ? try weights.tensor("\(prefix).\(names.keyNorm).weight", shape: [hd]) : nil
    epsilon = shape.epsilon
  }

  var parameterBytes: Int {
    [query, key, value, output].reduce(0) { $0 + $1.parameterBytes }
      + 2 * (queryNorm == nil ? 0 : heads.headDim * MemoryLayout<Float>.size)
  }

  /// Scratch floats for `rows` tokens against `keys` slots, `gatheredKeys` of them named
  /// by key positions (copied together; 0 without).
  func scratchCount(rows: Int, keys: Int, gatheredKeys: Int) -> Int {
    rows * (query.outFeatures + 2 * heads.kvWidth + 2 * heads.queryWidth) + 2 * gatheredKeys * heads.kvWidth
      + heads.scratchCount(rows: rows, keys: keys)
  }

  /// Runs the block on the normalised rows `x` [rows, D] of one sequence: writes the
  /// tokens' keys and values into the cache at their positions, attends, and adds the
  /// output to `residual`.
  func forward(
    _ x: UnsafePointer<Float>, rows n: Int, plan: CachePlan, keys cachedKeys: UnsafeMutablePointer<Float>,
    values cachedValues: UnsafeMutablePointer<Float>, rope: RotaryEmbedding, ropeTable: UnsafePointer<Float>,
    scratch: UnsafeMutablePointer<Float>, addingInto residual: UnsafeMutablePointer<Float>
  ) {
    forward(
      x, rows: n, sequences: CollectionOfOne(AttendedSequence(plan: plan, keys: cachedKeys, values: cachedValues, firstRow: 0)),
      rope: rope, ropeTable: ropeTable, scratch: scratch, addingInto: residual)
  }

  /// Runs the block on rows of several sequences (a batched decode step): the
  /// projections over all rows at once, RoPE, the cache writes and attention per
  /// sequence against its own cache. `ropeTable` has one row per row of `x`.
  func forward<Sequences: Collection<AttendedSequence>>(
    _ x: UnsafePointer<Float>, rows n: Int, sequences: Sequences, rope: RotaryEmbedding,
    ropeTable: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    addingInto residual: UnsafeMutablePointer<Float>
  ) {
    let hd = heads.headDim
    let groups = heads.kvHeads
    let perGroupQueries = heads.groupSize * hd
    let perGroupGates = heads.groupSize * gate.width(headDim: hd)
    let qw = heads.queryWidth
    let kvw = heads.kvWidth

    let projected = scratch  // [n, q_proj outputs]
    let k = projected + n * query.outFeatures  // [n, kvw]
    let v = k + n * kvw
    let q = v + n * kvw  // [n, qw]
    let attended = q + n * qw  // [n, qw]
    let gathered = attended + n * qw  // named key slots' keys then values, [2, keys, kvw]
    let gatheredCount = sequences.reduce(0) { max($0, $1.plan.keySlots?.count ?? 0) }
    let attentionScratch = gathered + 2 * gatheredCount * kvw
    query.apply(x, rows: n, into: projected)
    key.apply(x, rows: n, into: k)
    value.apply(x, rows: n, into: v)

    // Queries out of the per-group layout; the gate logits stay in `projected`.
    for t in 0..<n {
      let src = projected + t * query.outFeatures
      for g in 0..<groups {
        (q + t * qw + g * perGroupQueries).update(from: src + g * (perGroupQueries + perGroupGates), count: perGroupQueries)
      }
    }
    if let queryNorm {
      Kernels.rmsNorm(q, rows: n * heads.heads, width: hd, weight: queryNorm.pointer, epsilon: epsilon, into: q)
    }
    for sequence in sequences {
      let plan = sequence.plan
      let rows = plan.positions.count
      let first = sequence.firstRow
      for t in first..<(first + rows) {
        let slot = plan.positions[t - first] * kvw
        let table = ropeTable + t * rope.tableWidth
        rope.rotate(q + t * qw, heads: heads.heads, table: table)
        // Keys and values go straight into the token's cache slot.
        let keySlot = sequence.keys + slot
        if let keyNorm {
          Kernels.rmsNorm(k + t * kvw, rows: groups, width: hd, weight: keyNorm.pointer, epsilon: epsilon, into: keySlot)
        } else {
          keySlot.update(from: k + t * kvw, count: kvw)
        }
        rope.rotate(keySlot, heads: groups, table: table)
        (sequence.values + slot).update(from: v + t * kvw, count: kvw)
      }

      if let slots = plan.keySlots {
        // Named key positions: gather their slots so attention runs over them as one block.
        let keys = gathered
        let values = gathered + slots.count * kvw
        for (j, slot) in slots.enumerated() {
          (keys + j * kvw).update(from: sequence.keys + slot * kvw, count: kvw)
          (values + j * kvw).update(from: sequence.values + slot * kvw, count: kvw)
        }
        heads.attend(
          queries: q + first * qw, queryStride: qw, rows: rows, keys: keys, values: values, kvStride: kvw,
          keyCount: { _ in slots.count }, scratch: attentionScratch, into: attended + first * qw, outStride: qw)
      } else {
        heads.attend(
          queries: q + first * qw, queryStride: qw, rows: rows, keys: sequence.keys, values: sequence.values,
          kvStride: kvw, keyCount: { plan.keyCounts[$0] }, scratch: attentionScratch, into: attended + first * qw,
          outStride: qw)
      }
    }

    if gate != .none {
      for t in 0..<n {
        let logits = projected + t * query.outFeatures
        for g in 0..<groups {
          let gates = logits + g * (perGroupQueries + perGroupGates) + perGroupQueries
          let out = attended + t * qw + g * perGroupQueries
          switch gate {
          case .elementwise:
            Kernels.multiplySigmoid(out, gate: gates, count: perGroupQueries)
          case .headwise:
            for j in 0..<heads.groupSize {
              Kernels.scale(out + j * hd, count: hd, by: 1 / (1 + expf(-gates[j])))
            }
          case .none:
            break
          }
        }
      }
    }
    output.apply(attended, rows: n, into: residual, accumulate: true)
  }
}
