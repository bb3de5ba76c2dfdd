import Foundation

/// Checks tool-call arguments against a tool's input schema: the part of JSON Schema
/// (draft 2020-12) that MCP servers' schemas use. No JSON Schema validator is among
/// the packages zoo may depend on, so this one is written here.
///
/// Checked: type (one or a list), enum, const, properties, required,
/// additionalProperties, items, prefixItems, minItems, maxItems, uniqueItems, minLength,
/// maxLength, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
/// multipleOf, minProperties, maxProperties, allOf, anyOf, oneOf, not, and local $ref
/// ("#/$defs/...", "#/definitions/..."). Annotations (description, title, default,
/// examples, format) are ignored, as the spec allows for format.
struct JSONSchema: Sendable {
  let root: JSONValue

  /// The first argument that breaks the schema: a JSON pointer ("" = the whole value)
  /// and a sentence.
  struct Violation: Error, Equatable {
    let pointer: String
    let message: String
  }

  /// A schema from its JSON text; empty text is the schema that accepts any object.
  init(json: String) throws {
    if json.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      root = .object(["type": .string("object")])
      return
    }
    let value = try JSONValue.parse(json)
    switch value {
    case .object, .bool: root = value
    default: throw JSONError("a JSON Schema is an object or a boolean, not \(value.schemaType)")
    }
    try checkReferences(root)
  }

  /// Refuses a schema whose $refs point nowhere, so a bad schema fails when it is stored,
  /// not when a call is checked.
  private func checkReferences(_ node: JSONValue) throws {
    switch node {
    case .object(let o):
      if let ref = o["$ref"]?.string { _ = try resolve(ref) }
      for v in o.values { try checkReferences(v) }
    case .array(let a):
      for v in a { try checkReferences(v) }
    default: break
    }
  }

  private func resolve(_ ref: String) throws -> JSONValue {
    guard ref.hasPrefix("#") else { throw JSONError("$ref '\(ref)' is not local to the schema; only '#/...' is supported") }
    var node = root
    for raw in ref.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
      let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
      if let o = node.object, let next = o[key] {
        node = next
      } else if let a = node.array, let i = Int(key), a.indices.contains(i) {
        node = a[i]
      } else {
        throw JSONError("$ref '\(ref)' points to nothing in the schema")
      }
    }
    return node
  }

  /// Throws the first violation of `value`.
  func validate(_ value: JSONValue) throws(Violation) {
    try check(value, against: root, at: "", depth: 0)
  }

  private func check(_ value: JSONValue, against schema: JSONValue, at pointer: String, depth: Int) throws(Violation) {
    func fail(_ message: String) -> Violation { Violation(pointer: pointer, message: message) }
    guard depth < 64 else { throw fail("the schema nests deeper than 64 levels (a $ref cycle?)") }
    switch schema {
    case .bool(let accepts):
      if !accepts { throw fail("no value is allowed here") }
      return
    case .object(let s):
      if let ref = s["$ref"]?.string {
        guard let target = try? resolve(ref) else { throw fail("$ref '\(ref)' points to nothing") }
        try check(value, against: target, at: pointer, depth: depth + 1)
      }
      try checkType(value, s, fail)
      if let allowed = s["enum"]?.array, !allowed.contains(value) {
        throw fail("must be one of \(allowed.map(\.canonical).joined(separator: ", ")); got \(value.canonical.clipped)")
      }
      if let constant = s["const"], constant != value { throw fail("must be \(constant.canonical); got \(value.canonical.clipped)") }
      try checkNumber(value, s, fail)
      try checkString(value, s, fail)
      try checkArray(value, s, at: pointer, depth: depth)
      try checkObject(value, s, at: pointer, depth: depth)
      try checkCombinators(value, s, at: pointer, depth: depth, fail)
    default:
      return  // not a schema keyword's value; refused when stored
    }
  }

  private func checkType(_ value: JSONValue, _ s: [String: JSONValue], _ fail: (String) -> Violation) throws(Violation) {
    let types: [String]
    switch s["type"] {
    case .string(let t)?: types = [t]
    case .array(let list)?: types = list.compactMap(\.string)
    default: return
    }
    let actual = value.schemaType
    guard types.contains(actual) || (actual == "integer" && types.contains("number")) else {
      throw fail("must be \(types.joined(separator: " or ")); got \(actual)")
    }
  }

  private func checkNumber(_ value: JSONValue, _ s: [String: JSONValue], _ fail: (String) -> Violation) throws(Violation) {
    guard let n = value.number else { return }
    if let m = s["minimum"]?.number, n < m { throw fail("must be >= \(JSONValue.number(m).canonical); got \(value.canonical)") }
    if let m = s["maximum"]?.number, n > m { throw fail("must be <= \(JSONValue.number(m).canonical); got \(value.canonical)") }
    if let m = s["exclusiveMinimum"]?.number, n <= m { throw fail("must be > \(JSONValue.number(m).canonical); got \(value.canonical)") }
    if let m = s["exclusiveMaximum"]?.number, n >= m { throw fail("must be < \(JSONValue.number(m).canonical); got \(value.canonical)") }
    if let m = s["multipleOf"]?.number, m > 0, (n / m).rounded() != n / m {
      throw fail("must be a multiple of \(JSONValue.number(m).canonical); got \(value.canonical)")
    }
  }

  private func checkString(_ value: JSONValue, _ s: [String: JSONValue], _ fail: (String) -> Violation) throws(Violation) {
    guard let text = value.string else { return }
    let length = text.unicodeScalars.count
    if let m = s["minLength"]?.number, Double(length) < m { throw fail("must be at least \(Int(m)) characters; got \(length)") }
    if let m = s["maxLength"]?.number, Double(length) > m { throw fail("must be at most \(Int(m)) characters; got \(length)") }
    if let pattern = s["pattern"]?.string {
      guard let regex = try? NSRegularExpression(pattern: pattern) else { return }  // a pattern we cannot read constrains nothing
      if regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
        throw fail("must match the pattern \(pattern); got \(value.canonical.clipped)")
      }
    }
  }

  private func checkArray(_ value: JSONValue, _ s: [String: JSONValue], at pointer: String, depth: Int) throws(Violation) {
    guard let items = value.array else { return }
    let fail = { (m: String) in Violation(pointer: pointer, message: m) }
    if let m = s["minItems"]?.number, Double(items.count) < m { throw fail("needs at least \(Int(m)) items; got \(items.count)") }
    if let m = s["maxItems"]?.number, Double(items.count) > m { throw fail("takes at most \(Int(m)) items; got \(items.count)") }
    if case .bool(true)? = s["uniqueItems"] {
      for i in items.indices where items[..<i].contains(items[i]) { throw fail("items must be unique; item \(i) repeats an earlier one") }
    }
    let prefix = s["prefixItems"]?.array ?? []
    for (i, item) in items.enumerated() {
      if i < prefix.count {
        try check(item, against: prefix[i], at: "\(pointer)/\(i)", depth: depth + 1)
      } else if let each = s["items"] {
        try check(item, against: each, at: "\(pointer)/\(i)", depth: depth + 1)
      }
    }
  }

  private func checkObject(_ value: JSONValue, _ s: [String: JSONValue], at pointer: String, depth: Int) throws(Violation) {
    guard let object = value.object else { return }
    let properties = s["properties"]?.object ?? [:]
    for name in (s["required"]?.array ?? []).compactMap(\.string) where object[name] == nil {
      throw Violation(pointer: "\(pointer)/\(Self.escape(name))", message: "is required but missing")
    }
    if let m = s["minProperties"]?.number, Double(object.count) < m {
      throw Violation(pointer: pointer, message: "needs at least \(Int(m)) properties; got \(object.count)")
    }
    if let m = s["maxProperties"]?.number, Double(object.count) > m {
      throw Violation(pointer: pointer, message: "takes at most \(Int(m)) properties; got \(object.count)")
    }
    for name in object.keys.sorted() {
      let at = "\(pointer)/\(Self.escape(name))"
      if let property = properties[name] {
        try check(object[name]!, against: property, at: at, depth: depth + 1)
      } else if let extra = s["additionalProperties"] {
        if case .bool(false) = extra {
          throw Violation(
            pointer: at, message: "is not a known argument; the tool takes \(properties.keys.sorted().joined(separator: ", "))")
        }
        try check(object[name]!, against: extra, at: at, depth: depth + 1)
      }
    }
  }

  private func checkCombinators(
    _ value: JSONValue, _ s: [String: JSONValue], at pointer: String, depth: Int, _ fail: (String) -> Violation
  ) throws(Violation) {
    for sub in s["allOf"]?.array ?? [] { try check(value, against: sub, at: pointer, depth: depth + 1) }
    if let any = s["anyOf"]?.array {
      var first: Violation?
      for sub in any {
        do throws(Violation) {
          try check(value, against: sub, at: pointer, depth: depth + 1)
          first = nil
          break
        } catch {
          first = first ?? error
        }
      }
      if let first { throw Violation(pointer: first.pointer, message: "matches none of anyOf's schemas (first: \(first.message))") }
    }
    if let one = s["oneOf"]?.array {
      var matches = 0
      for sub in one {
        do throws(Violation) {
          try check(value, against: sub, at: pointer, depth: depth + 1)
          matches += 1
        } catch {}
      }
      if matches != 1 { throw fail("must match exactly one of oneOf's \(one.count) schemas; matches \(matches)") }
    }
    if let not = s["not"] {
      let matched: Bool
      do throws(Violation) {
        try check(value, against: not, at: pointer, depth: depth + 1)
        matched = true
      } catch { matched = false }
      if matched { throw fail("must not match the schema under 'not'") }
    }
  }

  /// A property name as a JSON pointer token (RFC 6901).
  private static func escape(_ name: String) -> String {
    name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
  }
}

extension String {
  /// At most 80 characters, for messages that quote a value.
  fileprivate var clipped: String { count <= 80 ? self : String(prefix(77)) + "..." }
}
