import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failure to parse or render a template, with where and why.
public struct JinjaError: Error, CustomStringConvertible, Sendable {
  public let description: String
  init(_ description: String) { self.description = description }
}

/// A Jinja2 template, for the subset Hugging Face chat templates use: `{{ }}`, `{% if
/// / elif / else %}`, `{% for %}` (with `loop`, `if` filters, tuple unpacking, `else`,
/// `break` and `continue`), `{% set %}` (names and namespace attributes), `{# #}`,
/// whitespace control (`-`), and the environment transformers renders with
/// (`trim_blocks`, `lstrip_blocks`). Written here because no Swift package zoo may use
/// renders Jinja (Stencil, the one template engine mirrored, is Django's dialect and reads
/// these templates differently). Expressions follow jinja2's grammar and precedence;
/// filters, tests and methods are those chat templates call (`JinjaFunctions.swift`).
public struct JinjaTemplate: Sendable {
  let body: [Node]

  public init(_ source: String) throws {
    // jinja2's keep_trailing_newline=False: one newline at the very end is not output.
    var source = source
    if source.hasSuffix("\n") { source.removeLast() }
    var parser = Parser(tokens: try Lexer.tokenize(source))
    body = try parser.parseBody(until: [])
  }

  /// Renders with `context` as the template's variables.
  public func render(_ context: [String: JinjaValue]) throws -> String {
    var scope = Scope(variables: context)
    var out = ""
    _ = try Interpreter.run(body, &scope, &out)
    return out
  }
}

// MARK: - Lexing

enum Token: Equatable {
  case text(String)
  case blockStart, blockEnd, varStart, varEnd
  case name(String)
  case string(String)
  case int(Int)
  case double(Double)
  case op(String)
}

enum Lexer {
  /// Splits the source into text and tag tokens, applying `-` whitespace control,
  /// trim_blocks (the newline after a block or comment tag goes) and lstrip_blocks
  /// (spaces and tabs before a block or comment tag on its line go).
  static func tokenize(_ source: String) throws -> [Token] {
    let s = Array(source.unicodeScalars)
    var tokens: [Token] = []
    var text = String.UnicodeScalarView()
    var i = 0
    var trimNextNewline = false
    var stripNextWhitespace = false

    func flushText(stripTrailing: Bool, lstripLine: Bool) {
      var t = Array(text)
      if stripTrailing {
        while let last = t.last, Self.isSpace(last) { t.removeLast() }
      } else if lstripLine {
        var k = t.count
        while k > 0, t[k - 1] == " " || t[k - 1] == "\t" { k -= 1 }
        if k == 0 || t[k - 1] == "\n" { t.removeSubrange(k...) }
      }
      if !t.isEmpty { tokens.append(.text(String(String.UnicodeScalarView(t)))) }
      text = String.UnicodeScalarView()
    }

    while i < s.count {
      if stripNextWhitespace {
        while i < s.count, isSpace(s[i]) { i += 1 }
        stripNextWhitespace = false
        continue
      }
      if trimNextNewline {
        trimNextNewline = false
        if s[i] == "\n" { i += 1; continue }
        if s[i] == "\r" && i + 1 < s.count && s[i + 1] == "\n" { i += 2; continue }
      }
      guard s[i] == "{", i + 1 < s.count, ["{", "%", "#"].contains(s[i + 1]) else {
        text.append(s[i])
        i += 1
        continue
      }
      let kind = s[i + 1]
      let minus = i + 2 < s.count && s[i + 2] == "-"
      let plus = i + 2 < s.count && s[i + 2] == "+"
      flushText(stripTrailing: minus, lstripLine: kind != "{" && !plus)
      i += (minus || plus) ? 3 : 2
      if kind == "#" {
        guard let end = find(s, "#}", from: i) else { throw JinjaError("a comment {# is never closed") }
        let stripAfter = end > 0 && s[end - 1] == "-"
        i = end + 2
        if stripAfter { stripNextWhitespace = true } else { trimNextNewline = true }
        continue
      }
      tokens.append(kind == "{" ? .varStart : .blockStart)
      let close: [Unicode.Scalar] = kind == "{" ? ["}", "}"] : ["%", "}"]
      // Tag contents up to the closing delimiter, outside string literals and brackets
      // (`{{ {'a': {'b': 1}} }}` closes at the last `}}`).
      var depth = 0
      while true {
        while i < s.count, isSpace(s[i]) { i += 1 }
        guard i < s.count else { throw JinjaError("a tag is never closed (expected \(String(String.UnicodeScalarView(close))))") }
        if depth == 0 && s[i] == "-" && i + 2 < s.count && s[i + 1] == close[0] && s[i + 2] == close[1] {
          i += 3
          stripNextWhitespace = true
          break
        }
        if depth == 0 && s[i] == close[0] && i + 1 < s.count && s[i + 1] == close[1] {
          i += 2
          if kind == "%" { trimNextNewline = true }
          break
        }
        let token = try lexOne(s, &i)
        if case .op(let o) = token {
          if o == "(" || o == "[" || o == "{" { depth += 1 }
          if o == ")" || o == "]" || o == "}" { depth = max(0, depth - 1) }
        }
        tokens.append(token)
      }
      tokens.append(kind == "{" ? .varEnd : .blockEnd)
    }
    flushText(stripTrailing: false, lstripLine: false)
    return tokens
  }

  private static func lexOne(_ s: [Unicode.Scalar], _ i: inout Int) throws -> Token {
    let c = s[i]
    if c == "'" || c == "\"" {
      var out = String.UnicodeScalarView()
      i += 1
      while i < s.count, s[i] != c {
        if s[i] == "\\", i + 1 < s.count {
          i += 1
          switch s[i] {
          case "n": out.append("\n")
          case "t": out.append("\t")
          case "r": out.append("\r")
          default: out.append(s[i])
          }
        } else {
          out.append(s[i])
        }
        i += 1
      }
      guard i < s.count else { throw JinjaError("a string literal is never closed") }
      i += 1
      return .string(String(out))
    }
    if c.properties.numericType != nil && c.isASCII {
      var j = i
      while j < s.count, s[j].isASCII, s[j].properties.numericType != nil || s[j] == "_" { j += 1 }
      var isDouble = false
      if j + 1 < s.count, s[j] == ".", s[j + 1].isASCII, s[j + 1].properties.numericType != nil {
        isDouble = true
        j += 1
        while j < s.count, s[j].isASCII, s[j].properties.numericType != nil { j += 1 }
      }
      let literal = String(String.UnicodeScalarView(s[i..<j])).replacingOccurrences(of: "_", with: "")
      i = j
      if isDouble { return .double(Double(literal) ?? 0) }
      guard let n = Int(literal) else { throw JinjaError("the number \(literal) is too large") }
      return .int(n)
    }
    if c == "_" || c.properties.isAlphabetic {
      var j = i
      while j < s.count, s[j] == "_" || s[j].properties.isAlphabetic || (s[j].isASCII && s[j].properties.numericType != nil) { j += 1 }
      defer { i = j }
      return .name(String(String.UnicodeScalarView(s[i..<j])))
    }
    for op in ["//", "**", "==", "!=", "<=", ">="] where i + 1 < s.count && String(String.UnicodeScalarView(s[i...i + 1])) == op {
      i += 2
      return .op(op)
    }
    if "+-*/%~<>=()[]{}.,:|".unicodeScalars.contains(c) {
      i += 1
      return .op(String(c))
    }
    throw JinjaError("unexpected character '\(c)' in a tag")
  }

  private static func find(_ s: [Unicode.Scalar], _ what: String, from: Int) -> Int? {
    let w = Array(what.unicodeScalars)
    var i = from
    while i + w.count <= s.count {
      if Array(s[i..<i + w.count]) == w { return i }
      i += 1
    }
    return nil
  }

  static func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
}

// MARK: - Syntax tree

indirect enum Expr: Sendable {
  case literal(JinjaValue)
  case name(String)
  case list([Expr])
  case dict([(Expr, Expr)])
  case attribute(Expr, String)
  case `subscript`(Expr, Expr)
  case slice(Expr, Expr?, Expr?, Expr?)
  case call(Expr, [Expr], [(String, Expr)])
  case filter(Expr, String, [Expr], [(String, Expr)])
  case test(Expr, String, [Expr], negated: Bool)
  case unary(String, Expr)
  case binary(String, Expr, Expr)
  case conditional(Expr, condition: Expr, otherwise: Expr?)
}

enum Node: Sendable {
  case text(String)
  case output(Expr)
  case conditional([(Expr, [Node])], otherwise: [Node])
  case loop(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node])
  case assign(target: String, attribute: String?, value: Expr)
  case assignBlock(target: String, attribute: String?, body: [Node])
  case `break`, `continue`
}

// MARK: - Parsing

struct Parser {
  let tokens: [Token]
  var i = 0

  init(tokens: [Token]) { self.tokens = tokens }

  var peek: Token? { i < tokens.count ? tokens[i] : nil }

  mutating func next() throws -> Token {
    guard i < tokens.count else { throw JinjaError("the template ends in the middle of a tag") }
    defer { i += 1 }
    return tokens[i]
  }

  mutating func expect(_ t: Token) throws {
    let got = try next()
    guard got == t else { throw JinjaError("expected \(Self.show(t)), found \(Self.show(got))") }
  }

  mutating func accept(_ t: Token) -> Bool {
    if peek == t { i += 1; return true }
    return false
  }

  static func show(_ t: Token) -> String {
    switch t {
    case .text: "text"
    case .blockStart: "{%"
    case .blockEnd: "%}"
    case .varStart: "{{"
    case .varEnd: "}}"
    case .name(let n): "'\(n)'"
    case .string(let s): "'\(s)'"
    case .int(let n): "\(n)"
    case .double(let d): "\(d)"
    case .op(let o): "'\(o)'"
    }
  }

  /// Nodes up to a block tag whose first word is in `ends` (left unconsumed: the
  /// caller reads it); `[]` = to the end of the template.
  mutating func parseBody(until ends: Set<String>) throws -> [Node] {
    var nodes: [Node] = []
    while let t = peek {
      switch t {
      case .text(let s):
        i += 1
        nodes.append(.text(s))
      case .varStart:
        i += 1
        nodes.append(.output(try parseExpression()))
        try expect(.varEnd)
      case .blockStart:
        guard case .name(let word) = tokens[safe: i + 1] else { throw JinjaError("a {% tag must start with a keyword") }
        if ends.contains(word) { return nodes }
        i += 2
        nodes.append(contentsOf: try parseStatement(word))
      default:
        throw JinjaError("unexpected \(Self.show(t))")
      }
    }
    guard ends.isEmpty else { throw JinjaError("the template ends before {% \(ends.sorted().joined(separator: " or ")) %}") }
    return nodes
  }

  /// Reads `{% word %}` (the closing tag of a block).
  mutating func parseEndTag(_ word: String) throws {
    try expect(.blockStart)
    try expect(.name(word))
    try expect(.blockEnd)
  }

  mutating func parseStatement(_ word: String) throws -> [Node] {
    switch word {
    case "if":
      var branches: [(Expr, [Node])] = []
      var condition = try parseExpression()
      try expect(.blockEnd)
      while true {
        let body = try parseBody(until: ["elif", "else", "endif"])
        branches.append((condition, body))
        try expect(.blockStart)
        guard case .name(let w) = try next() else { throw JinjaError("expected elif, else or endif") }
        if w == "elif" {
          condition = try parseExpression()
          try expect(.blockEnd)
          continue
        }
        try expect(.blockEnd)
        if w == "else" {
          let otherwise = try parseBody(until: ["endif"])
          try parseEndTag("endif")
          return [.conditional(branches, otherwise: otherwise)]
        }
        return [.conditional(branches, otherwise: [])]
      }
    case "for":
      var targets: [String] = []
      repeat {
        guard case .name(let n) = try next() else { throw JinjaError("expected a loop variable after 'for'") }
        targets.append(n)
      } while accept(.op(","))
      try expect(.name("in"))
      let iterable = try parseExpression(allowConditional: false)
      let filter = accept(.name("if")) ? try parseExpression() : nil
      _ = accept(.name("recursive"))
      try expect(.blockEnd)
      let body = try parseBody(until: ["else", "endfor"])
      var otherwise: [Node] = []
      try expect(.blockStart)
      if accept(.name("else")) {
        try expect(.blockEnd)
        otherwise = try parseBody(until: ["endfor"])
        try expect(.blockStart)
      }
      try expect(.name("endfor"))
      try expect(.blockEnd)
      return [.loop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)]
    case "set":
      guard case .name(let target) = try next() else { throw JinjaError("expected a name after 'set'") }
      var attribute: String?
      if accept(.op(".")) {
        guard case .name(let a) = try next() else { throw JinjaError("expected an attribute name after '\(target).'") }
        attribute = a
      }
      if accept(.blockEnd) {
        // {% set x %}...{% endset %}: the rendered block is the value.
        let body = try parseBody(until: ["endset"])
        try parseEndTag("endset")
        return [.assignBlock(target: target, attribute: attribute, body: body)]
      }
      try expect(.op("="))
      let value = try parseExpression()
      try expect(.blockEnd)
      return [.assign(target: target, attribute: attribute, value: value)]
    case "break", "continue":
      try expect(.blockEnd)
      return [word == "break" ? .break : .continue]
    case "generation", "endgeneration":
      // transformers' AssistantTracker marks assistant text for training masks; it
      // renders nothing itself.
      try expect(.blockEnd)
      return []
    default:
      throw JinjaError("the template uses {% \(word) %}, which zood's template engine does not support")
    }
  }

  // Expressions, lowest precedence first, as jinja2's parser.

  mutating func parseExpression(allowConditional: Bool = true) throws -> Expr {
    let value = try parseOr()
    guard allowConditional, accept(.name("if")) else { return value }
    let condition = try parseOr()
    let otherwise = accept(.name("else")) ? try parseExpression() : nil
    return .conditional(value, condition: condition, otherwise: otherwise)
  }

  mutating func parseOr() throws -> Expr {
    var left = try parseAnd()
    while accept(.name("or")) { left = .binary("or", left, try parseAnd()) }
    return left
  }

  mutating func parseAnd() throws -> Expr {
    var left = try parseNot()
    while accept(.name("and")) { left = .binary("and", left, try parseNot()) }
    return left
  }

  mutating func parseNot() throws -> Expr {
    if accept(.name("not")) { return .unary("not", try parseNot()) }
    return try parseCompare()
  }

  mutating func parseCompare() throws -> Expr {
    var left = try parseMath1()
    while true {
      if case .op(let op) = peek, ["==", "!=", "<", ">", "<=", ">="].contains(op) {
        i += 1
        left = .binary(op, left, try parseMath1())
      } else if accept(.name("in")) {
        left = .binary("in", left, try parseMath1())
      } else if peek == .name("not"), tokens[safe: i + 1] == .name("in") {
        i += 2
        left = .unary("not", .binary("in", left, try parseMath1()))
      } else {
        return left
      }
    }
  }

  mutating func parseMath1() throws -> Expr {
    var left = try parseConcat()
    while case .op(let op) = peek, op == "+" || op == "-" {
      i += 1
      left = .binary(op, left, try parseConcat())
    }
    return left
  }

  mutating func parseConcat() throws -> Expr {
    var left = try parseMath2()
    while accept(.op("~")) { left = .binary("~", left, try parseMath2()) }
    return left
  }

  mutating func parseMath2() throws -> Expr {
    var left = try parsePow()
    while case .op(let op) = peek, ["*", "/", "//", "%"].contains(op) {
      i += 1
      left = .binary(op, left, try parsePow())
    }
    return left
  }

  mutating func parsePow() throws -> Expr {
    var left = try parseUnary()
    while accept(.op("**")) { left = .binary("**", left, try parseUnary()) }
    return left
  }

  mutating func parseUnary() throws -> Expr {
    if accept(.op("-")) { return try parsePostfixFilters(.unary("-", try parseUnary())) }
    if accept(.op("+")) { return try parseUnary() }
    return try parsePostfixFilters(try parsePostfix(try parsePrimary()))
  }

  mutating func parsePrimary() throws -> Expr {
    switch try next() {
    case .name(let n):
      switch n {
      case "true", "True": return .literal(.bool(true))
      case "false", "False": return .literal(.bool(false))
      case "none", "None": return .literal(.none)
      default: return .name(n)
      }
    case .string(var s):
      while case .string(let more) = peek {  // adjacent literals concatenate
        s += more
        i += 1
      }
      return .literal(.string(s))
    case .int(let n): return .literal(.int(n))
    case .double(let d): return .literal(.double(d))
    case .op("("):
      let e = try parseExpression()
      if accept(.op(",")) {  // a tuple: a list will do
        var items = [e]
        while peek != .op(")") {
          items.append(try parseExpression())
          if !accept(.op(",")) { break }
        }
        try expect(.op(")"))
        return .list(items)
      }
      try expect(.op(")"))
      return e
    case .op("["):
      var items: [Expr] = []
      while peek != .op("]") {
        items.append(try parseExpression())
        if !accept(.op(",")) { break }
      }
      try expect(.op("]"))
      return .list(items)
    case .op("{"):
      var pairs: [(Expr, Expr)] = []
      while peek != .op("}") {
        let k = try parseExpression()
        try expect(.op(":"))
        pairs.append((k, try parseExpression()))
        if !accept(.op(",")) { break }
      }
      try expect(.op("}"))
      return .dict(pairs)
    case let t:
      throw JinjaError("unexpected \(Self.show(t)) in an expression")
    }
  }

  mutating func parsePostfix(_ base: Expr) throws -> Expr {
    var e = base
    while true {
      if accept(.op(".")) {
        guard case .name(let n) = try next() else { throw JinjaError("expected an attribute name after '.'") }
        e = .attribute(e, n)
      } else if accept(.op("[")) {
        var parts: [Expr?] = [nil]
        var isSlice = false
        while peek != .op("]") {
          if accept(.op(":")) {
            isSlice = true
            parts.append(nil)
          } else {
            parts[parts.count - 1] = try parseExpression()
          }
        }
        try expect(.op("]"))
        if isSlice {
          e = .slice(e, parts[safe: 0] ?? nil, parts[safe: 1] ?? nil, parts[safe: 2] ?? nil)
        } else {
          guard let index = parts[0] else { throw JinjaError("empty subscript []") }
          e = .subscript(e, index)
        }
      } else if accept(.op("(")) {
        let (args, kwargs) = try parseArguments()
        e = .call(e, args, kwargs)
      } else {
        return e
      }
    }
  }

  /// `| filter(args)` and `is [not] test(args)`, which bind tighter than any operator.
  mutating func parsePostfixFilters(_ base: Expr) throws -> Expr {
    var e = base
    while true {
      if accept(.op("|")) {
        guard case .name(let n) = try next() else { throw JinjaError("expected a filter name after '|'") }
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        if accept(.op("(")) { (args, kwargs) = try parseArguments() }
        e = try parsePostfix(.filter(e, n, args, kwargs))
      } else if accept(.name("is")) {
        let negated = accept(.name("not"))
        guard case .name(let n) = try next() else { throw JinjaError("expected a test name after 'is'") }
        var args: [Expr] = []
        if accept(.op("(")) {
          args = try parseArguments().0
        } else if let t = peek, Self.startsArgument(t) {
          args = [try parsePrimary()]  // `is equalto 3`, `is sameas none`
        }
        e = .test(e, n, args, negated: negated)
      } else {
        return e
      }
    }
  }

  static func startsArgument(_ t: Token) -> Bool {
    switch t {
    case .string, .int, .double: true
    case .name(let n): !["and", "or", "else", "if", "in", "not", "is"].contains(n)
    default: false
    }
  }

  /// Call arguments after '(' up to ')': positional, then name=value.
  mutating func parseArguments() throws -> ([Expr], [(String, Expr)]) {
    var args: [Expr] = []
    var kwargs: [(String, Expr)] = []
    while peek != .op(")") {
      if case .name(let n) = peek, tokens[safe: i + 1] == .op("=") {
        i += 2
        kwargs.append((n, try parseExpression()))
      } else {
        args.append(try parseExpression())
      }
      if !accept(.op(",")) { break }
    }
    try expect(.op(")"))
    return (args, kwargs)
  }
}

extension Array {
  fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
