import ZooCore
import ZooPluginKit

/// The Llama-family MLP: `down(SiLU(gate(x)) ⊙ up(x))`, bias-free (Hugging Face
/// `LlamaMLP`, `Qwen3MLP`; LLaDA's `ff_out(act(ff_proj(x)) * up_proj(x))`).
final class SwiGLU: @unchecked Sendable {
  let gate, up, down: Linear

  /// The gate and up projections [I, D] and the down projection [D, I] under `prefix`
  /// (Hugging Face's `gate_proj`, `up_proj`, `down_proj` unless `names` says otherwise).
  init(
    _ weights: Weights, prefix: String, hidden: Int, intermediate: Int,
    names: (gate: String, up: String, down: String) = ("gate_proj", "up_proj", "down_proj")
  ) throws {
    gate = try Linear(weights, "\(prefix).\(names.gate)", in: hidden, out: intermediate, bias: false)
    up = try Linear(weights, "\(prefix).\(names.up)", in: hidden, out: intermediate, bias: false)
    down = try Linear(weights, "\(prefix).\(names.down)", in: intermediate, out: hidden, bias: false)
  }

  var parameterBytes: Int { gate.parameterBytes + up.parameterBytes + down.parameterBytes }

  func scratchCount(rows: Int) -> Int { 2 * rows * gate.outFeatures }

  /// Adds the MLP of the normalised rows `x` [rows, D] to `residual`.
  func forward(
    _ x: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    addingInto residual: UnsafeMutablePointer<Float>
  ) {
    let count = rows * gate.outFeatures
    let g = scratch
    let u = scratch + count
    gate.apply(x, rows: rows, into: g)
    up.apply(x, rows: rows, into: u)
    Kernels.siluMultiply(g, by: u, count: count)
    down.apply(g, rows: rows, into: residual, accumulate: true)
  }
}
