import ZooCore

extension Linear {
  /// A PyTorch `nn.Linear` read from the checkpoint: `<name>.weight` `[out, in]` and,
  /// when `bias`, `<name>.bias` `[out]`, both checked and borrowed (no copy).
  public init(_ weights: Weights, _ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws {
    let w = try weights.tensor("\(name).weight", shape: [outFeatures, inFeatures])
    let b = try weights.optionalTensor("\(name).bias", shape: [outFeatures], present: bias)
    self.init(
      weight: w.pointer, bias: b?.pointer, inFeatures: inFeatures, outFeatures: outFeatures,
      owners: [w] + (b.map { [$0] } ?? []))
  }
}
