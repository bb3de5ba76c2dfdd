import Foundation
import ZooCore

/// A parsed JSON document. Foundation's JSONSerialization cannot tell `true` from `1`
/// on every platform, and JSON Schema needs that distinction, so tool schemas and
/// arguments are decoded into this instead.
enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  /// Parses `text`; a sentence saying what is wrong when it is not JSON.
  static func parse(_ text: String) throws -> JSONValue {
    do {
      return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    } catch let DecodingError.dataCorrupted(context) {
      throw JSONError("not valid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)")
    } catch {
      throw JSONError("not valid JSON: \(error)")
    }
  }

  var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
  var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
  var string: String? { if case .string(let s) = self { s } else { nil } }
  var number: Double? { if case .number(let n) = self { n } else { nil } }

  /// The JSON Schema type name of this value ("integer" for integral numbers).
  var schemaType: String {
    switch self {
    case .null: "null"
    case .bool: "boolean"
    case .number(let n): n.rounded() == n && n.isFinite ? "integer" : "number"
    case .string: "string"
    case .array: "array"
    case .object: "object"
    }
  }

  /// Compact JSON with sorted keys: the same text for the same value, so token counts
  /// and prompts are stable (the Tool Attention loader's `sort_keys`, no spaces).
  var canonical: String {
    var out = ""
    write(into: &out)
    return out
  }

  private func write(into out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .number(let n):
      if n.rounded() == n && abs(n) < 1e15 { out += String(Int64(n)) } else { out += "\(n)" }
    case .string(let s): out += JSONText.quoted(s)
    case .array(let a):
      out += "["
      for (i, v) in a.enumerated() {
        if i > 0 { out += "," }
        v.write(into: &out)
      }
      out += "]"
    case .object(let o):
      out += "{"
      for (i, key) in o.keys.sorted().enumerated() {
        if i > 0 { out += "," }
        out += JSONText.quoted(key)
        out += ":"
        o[key]!.write(into: &out)
      }
      out += "}"
    }
  }
}

extension JSONValue: Decodable {
  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() {
      self = .null
    } else if let b = try? c.decode(Bool.self) {
      self = .bool(b)
    } else if let n = try? c.decode(Double.self) {
      self = .number(n)
    } else if let s = try? c.decode(String.self) {
      self = .string(s)
    } else if let a = try? c.decode([JSONValue].self) {
      self = .array(a)
    } else {
      self = .object(try c.decode([String: JSONValue].self))
    }
  }
}

/// A JSON problem, as a sentence.
struct JSONError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
