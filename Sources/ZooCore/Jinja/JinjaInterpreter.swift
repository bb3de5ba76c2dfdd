import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Variables by scope: a `for` body gets its own (so a `set` inside a loop does not
/// outlive an iteration, as in jinja2: templates carry values out through `namespace`).
struct Scope {
  var frames: [[String: JinjaValue]]

  init(variables: [String: JinjaValue]) { frames = [variables] }

  subscript(name: String) -> JinjaValue {
    for frame in frames.reversed() { if let v = frame[name] { return v } }
    return .undefined
  }

  mutating func set(_ name: String, _ value: JinjaValue) { frames[frames.count - 1][name] = value }
}

enum Interpreter {
  enum Flow { case normal, `break`, `continue` }

  static func run(_ nodes: [Node], _ scope: inout Scope, _ out: inout String) throws -> Flow {
    for node in nodes {
      switch node {
      case .text(let s): out += s
      case .output(let e): out += try eval(e, &scope).text
      case .conditional(let branches, let otherwise):
        let chosen = try branches.first { try eval($0.0, &scope).truthy }?.1 ?? otherwise
        let flow = try run(chosen, &scope, &out)
        if flow != .normal { return flow }
      case .loop(let targets, let iterable, let filter, let body, let otherwise):
        var items = try iterate(eval(iterable, &scope))
        if let filter {
          items = try items.filter { item in
            scope.frames.append(bind(targets, item))
            defer { scope.frames.removeLast() }
            return try eval(filter, &scope).truthy
          }
        }
        if items.isEmpty {
          let flow = try run(otherwise, &scope, &out)
          if flow != .normal { return flow }
          continue
        }
        for (k, item) in items.enumerated() {
          var frame = bind(targets, item)
          frame["loop"] = .object(
            JinjaObject([
              ("index", .int(k + 1)), ("index0", .int(k)), ("revindex", .int(items.count - k)),
              ("revindex0", .int(items.count - k - 1)), ("first", .bool(k == 0)), ("last", .bool(k == items.count - 1)),
              ("length", .int(items.count)), ("previtem", k > 0 ? items[k - 1] : .undefined),
              ("nextitem", k + 1 < items.count ? items[k + 1] : .undefined),
            ]))
          scope.frames.append(frame)
          let flow = try run(body, &scope, &out)
          scope.frames.removeLast()
          if flow == .break { break }
        }
      case .assign(let target, let attribute, let value):
        try assign(target, attribute, try eval(value, &scope), &scope)
      case .assignBlock(let target, let attribute, let body):
        var rendered = ""
        _ = try run(body, &scope, &rendered)
        try assign(target, attribute, .string(rendered), &scope)
      case .break: return .break
      case .continue: return .continue
      }
    }
    return .normal
  }

  static func assign(_ target: String, _ attribute: String?, _ value: JinjaValue, _ scope: inout Scope) throws {
    guard let attribute else { return scope.set(target, value) }
    guard case .namespace(let ns) = scope[target] else {
      throw JinjaError("cannot set '\(target).\(attribute)': only a namespace() takes attributes")
    }
    ns.attributes[attribute] = value
  }

  static func bind(_ targets: [String], _ item: JinjaValue) -> [String: JinjaValue] {
    guard targets.count > 1 else { return [targets[0]: item] }
    let parts: [JinjaValue] = if case .array(let a) = item { a } else { [] }
    return Dictionary(uniqueKeysWithValues: targets.enumerated().map { ($1, parts.indices.contains($0) ? parts[$0] : .undefined) })
  }

  /// What a `for` walks: a list's items, a string's characters, a dict's keys.
  static func iterate(_ v: JinjaValue) throws -> [JinjaValue] {
    switch v {
    case .array(let a): return a
    case .string(let s): return s.map { .string(String($0)) }
    case .object(let o): return o.keys.map { .string($0) }
    case .undefined, .none: return []
    default: throw JinjaError("cannot loop over \(v.repr)")
    }
  }

  static func eval(_ e: Expr, _ scope: inout Scope) throws -> JinjaValue {
    switch e {
    case .literal(let v): return v
    case .name(let n): return scope[n]
    case .list(let items): return .array(try items.map { try eval($0, &scope) })
    case .dict(let pairs):
      return .object(JinjaObject(try pairs.map { (try eval($0.0, &scope).text, try eval($0.1, &scope)) }))
    case .attribute(let base, let name):
      let b = try eval(base, &scope)
      switch b {
      case .object(let o): return o[name]
      case .namespace(let ns): return ns.attributes[name]
      default: return .undefined  // a method: resolved by the call around it
      }
    case .subscript(let base, let index):
      return try JinjaFunctions.item(try eval(base, &scope), try eval(index, &scope))
    case .slice(let base, let start, let stop, let step):
      return try JinjaFunctions.slice(
        try eval(base, &scope), try start.map { try eval($0, &scope) }, try stop.map { try eval($0, &scope) },
        try step.map { try eval($0, &scope) })
    case .call(let callee, let args, let kwargs):
      let a = try args.map { try eval($0, &scope) }
      let k = try kwargs.map { ($0.0, try eval($0.1, &scope)) }
      if case .attribute(let base, let method) = callee {
        let receiver = try eval(base, &scope)
        if case .object(let o) = receiver, o.has(method) { throw JinjaError("'\(method)' is not callable") }
        return try JinjaFunctions.method(receiver, method, a, k)
      }
      guard case .name(let name) = callee else { throw JinjaError("only named functions and methods can be called") }
      return try JinjaFunctions.global(name, a, k)
    case .filter(let base, let name, let args, let kwargs):
      let b = try eval(base, &scope)
      return try JinjaFunctions.filter(
        name, b, try args.map { try eval($0, &scope) }, try kwargs.map { ($0.0, try eval($0.1, &scope)) })
    case .test(let base, let name, let args, let negated):
      let result = try JinjaFunctions.test(name, try eval(base, &scope), try args.map { try eval($0, &scope) })
      return .bool(result != negated)
    case .unary(let op, let operand):
      let v = try eval(operand, &scope)
      switch op {
      case "not": return .bool(!v.truthy)
      default:
        switch v {
        case .int(let n): return .int(-n)
        case .double(let d): return .double(-d)
        default: throw JinjaError("cannot negate \(v.repr)")
        }
      }
    case .binary("and", let l, let r):
      let left = try eval(l, &scope)
      return left.truthy ? try eval(r, &scope) : left
    case .binary("or", let l, let r):
      let left = try eval(l, &scope)
      return left.truthy ? left : try eval(r, &scope)
    case .binary(let op, let l, let r):
      return try binary(op, try eval(l, &scope), try eval(r, &scope))
    case .conditional(let value, let condition, let otherwise):
      if try eval(condition, &scope).truthy { return try eval(value, &scope) }
      return try otherwise.map { try eval($0, &scope) } ?? .undefined
    }
  }

  static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
    switch op {
    case "==": return .bool(JinjaValue.equal(a, b))
    case "!=": return .bool(!JinjaValue.equal(a, b))
    case "in":
      switch b {
      case .string(let s): return .bool(s.contains(a.text) && a != .undefined)
      case .array(let items): return .bool(items.contains { JinjaValue.equal($0, a) })
      case .object(let o): return .bool(o.has(a.text))
      case .undefined, .none: return .bool(false)
      default: throw JinjaError("'in' needs a string, list or dict on its right, not \(b.repr)")
      }
    case "~": return .string(a.text + b.text)
    case "<", ">", "<=", ">=":
      let order: ComparisonResult
      switch (a, b) {
      case (.string(let x), .string(let y)): order = x < y ? .orderedAscending : x == y ? .orderedSame : .orderedDescending
      default:
        guard let x = number(a), let y = number(b) else { throw JinjaError("cannot compare \(a.repr) with \(b.repr)") }
        order = x < y ? .orderedAscending : x == y ? .orderedSame : .orderedDescending
      }
      switch op {
      case "<": return .bool(order == .orderedAscending)
      case ">": return .bool(order == .orderedDescending)
      case "<=": return .bool(order != .orderedDescending)
      default: return .bool(order != .orderedAscending)
      }
    case "+":
      switch (a, b) {
      case (.string(let x), .string(let y)): return .string(x + y)
      case (.array(let x), .array(let y)): return .array(x + y)
      default: break
      }
    case "*":
      if case .string(let s) = a, case .int(let n) = b { return .string(String(repeating: s, count: max(0, n))) }
    default: break
    }
    // Arithmetic: ints stay ints (but / is true division), as in Python.
    if case .int(let x) = a, case .int(let y) = b {
      switch op {
      case "+": return .int(x + y)
      case "-": return .int(x - y)
      case "*": return .int(x * y)
      case "//", "%":
        guard y != 0 else { throw JinjaError("division by zero") }
        let q = Int((Double(x) / Double(y)).rounded(.down))
        return .int(op == "//" ? q : x - q * y)
      case "**": return .int(Int(pow(Double(x), Double(y))))
      default: break
      }
    }
    guard let x = number(a), let y = number(b) else { throw JinjaError("cannot apply '\(op)' to \(a.repr) and \(b.repr)") }
    switch op {
    case "+": return .double(x + y)
    case "-": return .double(x - y)
    case "*": return .double(x * y)
    case "/":
      guard y != 0 else { throw JinjaError("division by zero") }
      return .double(x / y)
    case "//": return .double((x / y).rounded(.down))
    case "%": return .double(x - (x / y).rounded(.down) * y)
    case "**": return .double(pow(x, y))
    default: throw JinjaError("unknown operator '\(op)'")
    }
  }

  static func number(_ v: JinjaValue) -> Double? {
    switch v {
    case .int(let n): Double(n)
    case .double(let d): d
    case .bool(let b): b ? 1 : 0
    default: nil
    }
  }
}
