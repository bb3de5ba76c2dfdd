extension Duration {
  /// The duration in seconds, for rates and for protobuf's double fields.
  public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
