import Foundation

/// A value inside a Jinja template, with Python's semantics where chat templates rely on
/// them (truthiness, equality, `str()`), since Hugging Face renders them with jinja2.
public indirect enum JinjaValue: Sendable, Equatable {
  case undefined
  case none
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case array([JinjaValue])
  /// A dict, keys in insertion order (as Python's, which `tojson` and `items()` show).
  case object(JinjaObject)
  /// `namespace(...)`: the one mutable value, shared by reference.
  case namespace(JinjaNamespace)

  /// A JSON value (from JSONSerialization) as a template value.
  public init(json: Any?) {
    switch json {
    case nil, is NSNull: self = .none
    case let s as String: self = .string(s)
    case let n as NSNumber:
      // Booleans arrive as numbers on Linux; templates read none from a config file.
      let d = n.doubleValue
      self = d == d.rounded() && abs(d) < 1e15 && !"\(n)".contains(".") ? .int(Int(d)) : .double(d)
    case let a as [Any]: self = .array(a.map { JinjaValue(json: $0) })
    case let d as [String: Any]:
      self = .object(JinjaObject(d.keys.sorted().map { ($0, JinjaValue(json: d[$0])) }))
    default: self = .undefined
    }
  }

  var truthy: Bool {
    switch self {
    case .undefined, .none: false
    case .bool(let b): b
    case .int(let i): i != 0
    case .double(let d): d != 0
    case .string(let s): !s.isEmpty
    case .array(let a): !a.isEmpty
    case .object(let o): !o.keys.isEmpty
    case .namespace: true
    }
  }

  /// What `{{ value }}` prints: Python's `str()`.
  var text: String {
    switch self {
    case .undefined: ""
    case .string(let s): s
    default: repr
    }
  }

  /// Python's `repr()`, for values printed inside lists and dicts.
  var repr: String {
    switch self {
    case .undefined, .none: "None"
    case .bool(let b): b ? "True" : "False"
    case .int(let i): "\(i)"
    case .double(let d): d == d.rounded() && abs(d) < 1e16 ? String(format: "%.1f", d) : "\(d)"
    case .string(let s): "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    case .array(let a): "[" + a.map(\.repr).joined(separator: ", ") + "]"
    case .object(let o): "{" + o.keys.map { "'\($0)': \(o[$0].repr)" }.joined(separator: ", ") + "}"
    case .namespace: "<Namespace>"
    }
  }

  /// Python's `json.dumps` with the defaults Hugging Face's `tojson` passes
  /// (ensure_ascii=False; ", " and ": " separators, or "," and newlines with `indent`).
  func json(indent: Int?, level: Int = 0) -> String {
    let pad = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
    let end = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
    let comma = indent == nil ? ", " : ","
    switch self {
    case .undefined, .none: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .int, .double: return repr
    case .string(let s): return Self.jsonString(s)
    case .array(let a):
      return a.isEmpty ? "[]" : "[" + a.map { pad + $0.json(indent: indent, level: level + 1) }.joined(separator: comma) + end + "]"
    case .object(let o):
      return o.keys.isEmpty
        ? "{}"
        : "{" + o.keys.map { pad + Self.jsonString($0) + ": " + o[$0].json(indent: indent, level: level + 1) }.joined(separator: comma)
          + end + "}"
    case .namespace: return "null"
    }
  }

  private static func jsonString(_ s: String) -> String { JSONText.quoted(s, shortEscapes: true) }

  /// Python's `==`: numbers compare by value across int and float; other kinds never
  /// equal each other.
  static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
    switch (a, b) {
    case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
    case (.bool(let x), .int(let y)), (.int(let y), .bool(let x)): (x ? 1 : 0) == y
    case (.undefined, .none), (.none, .undefined): false
    case (.namespace(let x), .namespace(let y)): x === y
    default: a == b
    }
  }
}

/// An ordered dict of template values.
public struct JinjaObject: Sendable, Equatable {
  private(set) var keys: [String] = []
  private var values: [String: JinjaValue] = [:]

  public init(_ pairs: [(String, JinjaValue)]) {
    for (k, v) in pairs { self[k] = v }
  }

  subscript(key: String) -> JinjaValue {
    get { values[key] ?? .undefined }
    set {
      if values[key] == nil { keys.append(key) }
      values[key] = newValue
    }
  }

  func has(_ key: String) -> Bool { values[key] != nil }
}

/// `namespace()`'s object: attributes a template may set from inside a loop.
public final class JinjaNamespace: @unchecked Sendable, Equatable {
  var attributes: JinjaObject
  init(_ attributes: JinjaObject) { self.attributes = attributes }
  public static func == (a: JinjaNamespace, b: JinjaNamespace) -> Bool { a === b }
}
