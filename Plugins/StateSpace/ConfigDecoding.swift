import Foundation

// Helpers for reading Hugging Face config.json files, whose values are not always plain
// JSON numbers: transformers 5 writes non-finite floats as {"__float__": "Infinity"}, and
// `time_step_rank` may be the string "auto".

/// A float in a transformers config.json: a JSON number, or transformers 5's encoding of
/// a non-finite value, `{"__float__": "Infinity" | "-Infinity" | "NaN"}`.
public struct ConfigFloat: Codable, Equatable, Sendable {
  public var value: Double

  public init(_ value: Double) { self.value = value }

  private enum Keys: String, CodingKey { case float = "__float__" }

  public init(from decoder: any Decoder) throws {
    if let number = try? decoder.singleValueContainer().decode(Double.self) {
      value = number
      return
    }
    let text = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .float)
    switch text.lowercased() {
    case "infinity", "inf", "+infinity": value = .infinity
    case "-infinity", "-inf": value = -.infinity
    case "nan": value = .nan
    default:
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "unknown __float__ value '\(text)'"))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    if value.isFinite {
      var c = encoder.singleValueContainer()
      try c.encode(value)
    } else {
      var c = encoder.container(keyedBy: Keys.self)
      try c.encode(value.isNaN ? "NaN" : value > 0 ? "Infinity" : "-Infinity", forKey: .float)
    }
  }
}

/// `time_step_rank`: an integer, or "auto" for ceil(hidden_size / 16).
public enum TimeStepRank: Codable, Equatable, Sendable {
  case auto
  case value(Int)

  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let n = try? c.decode(Int.self) {
      self = .value(n)
    } else if let s = try? c.decode(String.self), s == "auto" {
      self = .auto
    } else {
      throw DecodingError.typeMismatch(
        Int.self, .init(codingPath: decoder.codingPath, debugDescription: "expected an integer or \"auto\""))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .auto: try c.encode("auto")
    case .value(let n): try c.encode(n)
    }
  }

  /// The rank for a model of width `hiddenSize`.
  public func resolved(hiddenSize: Int) -> Int {
    switch self {
    case .auto: (hiddenSize + 15) / 16
    case .value(let n): n
    }
  }
}
