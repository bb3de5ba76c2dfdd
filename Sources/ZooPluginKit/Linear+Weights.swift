import ZooCore

extension Linear {
  /// A PyTorch `nn.Linear` read from the checkpoint: `<name>.weight` `[out, in]` (a
  /// `Weights.matrix`, kept as stored or quantised as the load asks, then handed to
  /// `keep`, which may move it, e.g. into huge pages) and, when `bias`, `<name>.bias`
  /// `[out]`, both checked.
  public init(
    _ weights: Weights, _ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool,
    keep: ((WeightMatrix) -> WeightMatrix)? = nil
  ) throws {
    let w = try weights.matrix("\(name).weight", shape: [outFeatures, inFeatures])
    let b = try weights.optionalTensor("\(name).bias", shape: [outFeatures], present: bias)
    self.init(matrix: keep?(w) ?? w, bias: b?.pointer, biasOwner: b)
  }
}
