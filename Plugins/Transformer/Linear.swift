import ZooCore
import ZooPluginKit

/// A dense layer `y = x·Wᵀ + b` with `W` in PyTorch `nn.Linear` layout [out, in].
///
/// Usually a view of the checkpoint's mapped weight (no copy). Projections that read the
/// same input (q/k/v, SwiGLU's gate/up) are fused at load into one owned matrix, so a
/// call makes one GEMM with M = all tokens instead of two or three smaller ones.
struct Linear: @unchecked Sendable {
  let inFeatures: Int
  let outFeatures: Int
  let weight: UnsafePointer<Float>
  let bias: UnsafePointer<Float>?
  /// What keeps `weight` and `bias` alive: the checkpoint's `Weight`s or an owned copy.
  private let storage: [AnyObject]

  /// `name.weight` [out, in] and, when `bias`, `name.bias` [out].
  init(_ weights: Weights, _ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws {
    let w = try weights.tensor("\(name).weight", shape: [outFeatures, inFeatures])
    let b = bias ? try weights.tensor("\(name).bias", shape: [outFeatures]) : nil
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    weight = w.pointer
    self.bias = b?.pointer
    storage = [w] + (b.map { [$0] } ?? [])
  }

  /// The parts stacked along the output dimension: the output row is [parts[0] | parts[1] | ...].
  init(fusing parts: [Linear]) {
    precondition(!parts.isEmpty && parts.allSatisfy { $0.inFeatures == parts[0].inFeatures })
    let inFeatures = parts[0].inFeatures
    let outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
    let hasBias = parts.contains { $0.bias != nil }
    let owned = OwnedFloats(count: outFeatures * inFeatures + (hasBias ? outFeatures : 0)) { p in
      var row = 0
      for part in parts {
        (p + row * inFeatures).update(from: part.weight, count: part.outFeatures * inFeatures)
        if let b = part.bias { (p + outFeatures * inFeatures + row).update(from: b, count: part.outFeatures) }
        row += part.outFeatures
      }
    }
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    weight = UnsafePointer(owned.pointer)
    bias = hasBias ? UnsafePointer(owned.pointer + outFeatures * inFeatures) : nil
    storage = [owned]
  }

  /// `y[rows, out] = x[rows, in]·Wᵀ + b`, or added to `y` when `accumulate`.
  func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    if let bias {
      if accumulate {
        Kernels.addBias(bias, to: y, rows: rows, width: outFeatures)
      } else {
        for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
      }
    }
    BLAS.linear(
      x, rows: rows, inFeatures: inFeatures, weight: weight, outFeatures: outFeatures, into: y,
      accumulate: accumulate || bias != nil)
  }

  var parameterBytes: Int { (outFeatures * inFeatures + (bias == nil ? 0 : outFeatures)) * MemoryLayout<Float>.size }
}

/// Float32 memory derived from weights at load time (fused matrices, summed tables),
/// owned by the model.
final class OwnedFloats: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Float>

  init(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) {
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
    fill(pointer)
  }

  deinit { pointer.deallocate() }
}
