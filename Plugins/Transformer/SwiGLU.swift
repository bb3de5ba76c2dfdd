import ZooCore
import ZooPluginKit

/// The Qwen3 / Llama MLP: `down(SiLU(gate(x)) ⊙ up(x))`, bias-free (Hugging Face
/// `Qwen3MLP`, modeling_qwen3.py).
final class SwiGLU: @unchecked Sendable {
  let gate, up, down: Linear

  /// `{prefix}.gate_proj`, `up_proj` [I, D] and `down_proj` [D, I].
  init(_ weights: Weights, prefix: String, hidden: Int, intermediate: Int) throws {
    gate = try Linear(weights, "\(prefix).gate_proj", in: hidden, out: intermediate, bias: false)
    up = try Linear(weights, "\(prefix).up_proj", in: hidden, out: intermediate, bias: false)
    down = try Linear(weights, "\(prefix).down_proj", in: intermediate, out: hidden, bias: false)
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
