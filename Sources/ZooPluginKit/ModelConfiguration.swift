/// A model's config.json as its builder reads it: decoded, then checked once by
/// `ModelLoadContext.config(_:)` before any weight is read.
public protocol ModelConfiguration: Decodable {
  /// Refuses values this implementation cannot run, naming the config.json key
  /// (`PluginError.invalidArgument`).
  func validate() throws
}

extension ModelConfiguration {
  /// Refuses the first of `values` (config.json key, value) that is not a positive integer.
  public func requirePositive(_ values: KeyValuePairs<String, Int>) throws {
    for (key, value) in values where value <= 0 {
      throw PluginError.invalidArgument("config.json key '\(key)' is \(value); it must be a positive integer")
    }
  }
}

extension KeyedDecodingContainer {
  /// The value under `key`, or `fallback` when the key is absent or null (the default of
  /// the official config class). A present value of the wrong type still throws.
  public func value<T: Decodable>(_ key: Key, default fallback: T) throws -> T {
    try decodeIfPresent(T.self, forKey: key) ?? fallback
  }
}
