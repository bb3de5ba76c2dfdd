import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The filters, tests, methods and globals chat templates call, with jinja2's (and
/// Python's) behaviour. Anything else is an error naming it, never a silent blank.
enum JinjaFunctions {
  static func item(_ base: JinjaValue, _ index: JinjaValue) throws -> JinjaValue {
    switch (base, index) {
    case (.object(let o), _): return o[index.text]
    case (.namespace(let ns), _): return ns.attributes[index.text]
    case (.array(let a), .int(let i)):
      let k = i < 0 ? a.count + i : i
      return a.indices.contains(k) ? a[k] : .undefined
    case (.string(let s), .int(let i)):
      let chars = Array(s)
      let k = i < 0 ? chars.count + i : i
      return chars.indices.contains(k) ? .string(String(chars[k])) : .undefined
    case (.undefined, _), (.none, _): return .undefined
    default: throw JinjaError("cannot index \(base.repr) with \(index.repr)")
    }
  }

  /// Python's slicing, `a[start:stop:step]`, on lists and strings.
  static func slice(_ base: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
    func int(_ v: JinjaValue?) throws -> Int? {
      switch v {
      case nil, .none?, .undefined?: return nil
      case .int(let n)?: return n
      default: throw JinjaError("slice bounds must be integers")
      }
    }
    let items: [JinjaValue]
    switch base {
    case .array(let a): items = a
    case .string(let s): items = s.map { .string(String($0)) }
    default: throw JinjaError("cannot slice \(base.repr)")
    }
    let n = items.count
    let by = try int(step) ?? 1
    guard by != 0 else { throw JinjaError("slice step cannot be zero") }
    func clamp(_ v: Int?, _ fallback: Int) -> Int {
      guard var v else { return fallback }
      if v < 0 { v += n }
      return by > 0 ? min(max(v, 0), n) : min(max(v, -1), n - 1)
    }
    var picked: [JinjaValue] = []
    var k = clamp(try int(start), by > 0 ? 0 : n - 1)
    let end = clamp(try int(stop), by > 0 ? n : -1)
    while by > 0 ? k < end : k > end {
      picked.append(items[k])
      k += by
    }
    if case .string = base { return .string(picked.map(\.text).joined()) }
    return .array(picked)
  }

  static func method(_ receiver: JinjaValue, _ name: String, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws
    -> JinjaValue
  {
    switch receiver {
    case .string(let s):
      func chars(_ k: Int) -> Set<Character>? { args.count > k && args[k] != .none ? Set(args[k].text) : nil }
      switch name {
      case "strip": return .string(trim(s, chars(0), leading: true, trailing: true))
      case "lstrip": return .string(trim(s, chars(0), leading: true, trailing: false))
      case "rstrip": return .string(trim(s, chars(0), leading: false, trailing: true))
      case "upper": return .string(s.uppercased())
      case "lower": return .string(s.lowercased())
      case "title": return .string(s.capitalized)
      case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
      case "startswith": return .bool(try anyOf(args.first) { s.hasPrefix($0) })
      case "endswith": return .bool(try anyOf(args.first) { s.hasSuffix($0) })
      case "replace":
        guard args.count >= 2 else { throw JinjaError("replace() takes the old and the new text") }
        return .string(s.replacingOccurrences(of: args[0].text, with: args[1].text))
      case "split":
        let limit = args.count > 1 ? (Interpreter.number(args[1]).map(Int.init) ?? -1) : -1
        if let sep = args.first, sep != .none {
          guard !sep.text.isEmpty else { throw JinjaError("split() separator is empty") }
          let parts = s.components(separatedBy: sep.text)
          guard limit >= 0, parts.count > limit + 1 else { return .array(parts.map { .string($0) }) }
          return .array(parts.prefix(limit).map { .string($0) } + [.string(parts.dropFirst(limit).joined(separator: sep.text))])
        }
        return .array(s.split(whereSeparator: \.isWhitespace).map { .string(String($0)) })
      case "find": return .int(s.range(of: args.first?.text ?? "").map { s.distance(from: s.startIndex, to: $0.lowerBound) } ?? -1)
      case "count": return .int(args.first.map { s.components(separatedBy: $0.text).count - 1 } ?? 0)
      case "join": return .string(try Interpreter.iterate(args.first ?? .array([])).map(\.text).joined(separator: s))
      case "isdigit": return .bool(!s.isEmpty && s.allSatisfy(\.isNumber))
      case "isspace": return .bool(!s.isEmpty && s.allSatisfy(\.isWhitespace))
      default: break
      }
    case .object(let o):
      switch name {
      case "items": return .array(o.keys.map { .array([.string($0), o[$0]]) })
      case "keys": return .array(o.keys.map { .string($0) })
      case "values": return .array(o.keys.map { o[$0] })
      case "get":
        let v = o[args.first?.text ?? ""]
        return v == .undefined ? (args.count > 1 ? args[1] : .none) : v
      default: break
      }
    case .undefined:
      throw JinjaError("called \(name)() on an undefined value")
    default: break
    }
    throw JinjaError("\(receiver.repr.prefix(40)) has no method \(name)() in zood's template engine")
  }

  static func global(_ name: String, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> JinjaValue {
    switch name {
    case "raise_exception":
      throw JinjaError("the chat template refused the conversation: \(args.first?.text ?? "")")
    case "namespace":
      var attributes = JinjaObject([])
      if case .object(let o)? = args.first { for k in o.keys { attributes[k] = o[k] } }
      for (k, v) in kwargs { attributes[k] = v }
      return .namespace(JinjaNamespace(attributes))
    case "range":
      let n = args.map { Interpreter.number($0).map(Int.init) ?? 0 }
      let (start, stop, step) =
        n.count == 1 ? (0, n[0], 1) : n.count == 2 ? (n[0], n[1], 1) : (n.first ?? 0, n.dropFirst().first ?? 0, n.last ?? 1)
      guard step != 0 else { throw JinjaError("range() step cannot be zero") }
      return .array(stride(from: start, to: stop, by: step).map { .int($0) })
    case "strftime_now":
      // transformers' helper: the current local time through C's strftime.
      var now = time(nil)
      var parts = tm()
      localtime_r(&now, &parts)
      var buffer = [CChar](repeating: 0, count: 256)
      let n = strftime(&buffer, buffer.count, args.first?.text ?? "", &parts)
      return .string(String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    case "dict":
      return .object(JinjaObject(kwargs))
    default:
      throw JinjaError("the template calls \(name)(), which zood's template engine does not have")
    }
  }

  static func filter(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws
    -> JinjaValue
  {
    func kw(_ key: String, _ position: Int) -> JinjaValue? {
      kwargs.first { $0.0 == key }?.1 ?? (args.count > position ? args[position] : nil)
    }
    switch name {
    case "trim": return .string(trim(v.text, nil, leading: true, trailing: true))
    case "upper": return .string(v.text.uppercased())
    case "lower": return .string(v.text.lowercased())
    case "title": return .string(v.text.capitalized)
    case "capitalize": return .string(v.text.prefix(1).uppercased() + v.text.dropFirst().lowercased())
    case "string": return .string(v.text)
    case "length", "count":
      switch v {
      case .string(let s): return .int(s.count)
      case .array(let a): return .int(a.count)
      case .object(let o): return .int(o.keys.count)
      default: return .int(0)
      }
    case "first": return try Interpreter.iterate(v).first ?? .undefined
    case "last": return try Interpreter.iterate(v).last ?? .undefined
    case "list": return .array(try Interpreter.iterate(v))
    case "reverse":
      if case .string(let s) = v { return .string(String(s.reversed())) }
      return .array(try Interpreter.iterate(v).reversed())
    case "join":
      let items = try Interpreter.iterate(v)
      if let attribute = kw("attribute", 1) { return .string(try items.map { try item($0, attribute).text }.joined(separator: kw("d", 0)?.text ?? "")) }
      return .string(items.map(\.text).joined(separator: args.first?.text ?? ""))
    case "default", "d":
      let fallback = args.first ?? .string("")
      let boolean = (args.count > 1 ? args[1] : kwargs.first { $0.0 == "boolean" }?.1)?.truthy ?? false
      return v == .undefined || (boolean && !v.truthy) ? fallback : v
    case "int":
      switch v {
      case .int: return v
      case .double(let d): return .int(Int(d))
      case .string(let s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? 0)
      case .bool(let b): return .int(b ? 1 : 0)
      default: return .int(0)
      }
    case "float": return .double(Interpreter.number(v) ?? Double(v.text) ?? 0)
    case "replace":
      guard args.count >= 2 else { throw JinjaError("replace takes the old and the new text") }
      return .string(v.text.replacingOccurrences(of: args[0].text, with: args[1].text))
    case "tojson":
      let indent = kw("indent", 0).flatMap { Interpreter.number($0) }.map(Int.init)
      return .string(v.json(indent: indent))
    case "items":
      guard case .object(let o) = v else { return .array([]) }
      return .array(o.keys.map { .array([.string($0), o[$0]]) })
    case "selectattr", "rejectattr":
      guard let attribute = args.first?.text else { throw JinjaError("\(name) needs an attribute name") }
      let kept = try Interpreter.iterate(v).filter { element in
        let value = try item(element, .string(attribute))
        let passes = args.count > 1 ? try test(args[1].text, value, Array(args.dropFirst(2))) : value.truthy
        return passes == (name == "selectattr")
      }
      return .array(kept)
    case "map":
      if let attribute = kwargs.first(where: { $0.0 == "attribute" })?.1 {
        return .array(try Interpreter.iterate(v).map { try item($0, attribute) })
      }
      guard let f = args.first?.text else { throw JinjaError("map needs a filter name or attribute=") }
      return .array(try Interpreter.iterate(v).map { try filter(f, $0, Array(args.dropFirst()), []) })
    case "unique":
      var seen: [JinjaValue] = []
      for e in try Interpreter.iterate(v) where !seen.contains(where: { JinjaValue.equal($0, e) }) { seen.append(e) }
      return .array(seen)
    case "abs":
      if case .int(let n) = v { return .int(abs(n)) }
      return .double(abs(Interpreter.number(v) ?? 0))
    case "indent":
      let width = Int(kw("width", 0).flatMap { Interpreter.number($0) } ?? 4)
      let pad = String(repeating: " ", count: width)
      let first = kw("first", 1)?.truthy ?? false
      let lines = v.text.components(separatedBy: "\n")
      return .string(
        lines.enumerated().map { k, line in (k == 0 && !first) || line.isEmpty ? line : pad + line }.joined(separator: "\n"))
    default:
      throw JinjaError("the template uses the filter '\(name)', which zood's template engine does not have")
    }
  }

  static func test(_ name: String, _ v: JinjaValue, _ args: [JinjaValue]) throws -> Bool {
    switch name {
    case "defined": return v != .undefined
    case "undefined": return v == .undefined
    case "none": return v == .none
    case "string": if case .string = v { return true } else { return false }
    case "number": return Interpreter.number(v) != nil && !isBool(v)
    case "integer": if case .int = v { return true } else { return false }
    case "float": if case .double = v { return true } else { return false }
    case "boolean": return isBool(v)
    case "true": return v == .bool(true)
    case "false": return v == .bool(false)
    case "mapping": if case .object = v { return true } else { return false }
    case "sequence", "iterable":
      switch v {
      case .array, .string, .object: return true
      default: return false
      }
    case "callable": return false
    case "even": return (Interpreter.number(v).map(Int.init) ?? 1) % 2 == 0
    case "odd": return (Interpreter.number(v).map(Int.init) ?? 0) % 2 != 0
    case "equalto", "eq", "sameas", "==": return JinjaValue.equal(v, args.first ?? .undefined)
    case "ne", "!=": return !JinjaValue.equal(v, args.first ?? .undefined)
    case "in": return try Interpreter.binary("in", v, args.first ?? .undefined).truthy
    case "lower": return v.text == v.text.lowercased()
    case "upper": return v.text == v.text.uppercased()
    default: throw JinjaError("the template uses the test '\(name)', which zood's template engine does not have")
    }
  }

  private static func isBool(_ v: JinjaValue) -> Bool {
    if case .bool = v { return true }
    return false
  }

  /// Python's `str.strip(chars)`: whitespace when `chars` is nil.
  static func trim(_ s: String, _ chars: Set<Character>?, leading: Bool, trailing: Bool) -> String {
    let drop: (Character) -> Bool = { chars?.contains($0) ?? $0.isWhitespace }
    var sub = Substring(s)
    if leading { sub = sub.drop(while: drop) }
    if trailing { while let last = sub.last, drop(last) { sub = sub.dropLast() } }
    return String(sub)
  }

  /// `startswith`/`endswith` take one string or a tuple of them.
  private static func anyOf(_ arg: JinjaValue?, _ check: (String) -> Bool) throws -> Bool {
    switch arg {
    case .string(let s)?: return check(s)
    case .array(let options)?: return options.contains { check($0.text) }
    default: throw JinjaError("startswith/endswith take a string or a tuple of strings")
    }
  }
}
