import ZooPluginKit
import ZooProto

extension KeyedDecodingContainer {
  /// The value under `key`, or `fallback` when the key is absent or null (the Hugging Face
  /// default). A present value of the wrong type still throws.
  func value<T: Decodable>(_ key: Key, default fallback: T) throws -> T {
    try decodeIfPresent(T.self, forKey: key) ?? fallback
  }
}

extension Zoo_V1_ConfigField {
  /// A manifest entry for an optional config key with a default (JSON text).
  static func field(_ name: String, _ type: Zoo_V1_FieldType, _ defaultJSON: String, _ description: String) -> Self {
    .with {
      $0.name = name
      $0.type = type
      $0.defaultJson = defaultJSON
      $0.required = false
      $0.description_p = description
    }
  }
}

/// Refuses non-positive sizes in a config.json, naming the key.
func requirePositive(_ values: [(String, Int)]) throws {
  for (key, value) in values where value <= 0 {
    throw PluginError.invalidArgument("config.json key '\(key)' is \(value); it must be a positive integer")
  }
}
