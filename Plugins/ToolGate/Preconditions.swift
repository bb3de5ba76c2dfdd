import ZooProto

/// What a session holds: granted scopes, tools whose output it has, milestones reached.
/// The client sends it with each gate; a named session adds each turn's to what it had.
struct SessionState: Equatable, Sendable {
  var scopes: Set<String> = []
  var toolOutputs: Set<String> = []
  var milestones: Set<String> = []

  init() {}

  init(_ proto: Zoo_V1_SessionState) {
    scopes = Set(proto.scopes)
    toolOutputs = Set(proto.toolOutputs)
    milestones = Set(proto.milestones)
  }

  mutating func add(_ other: SessionState) {
    scopes.formUnion(other.scopes)
    toolOutputs.formUnion(other.toolOutputs)
    milestones.formUnion(other.milestones)
  }
}

extension Zoo_V1_ToolPreconditions {
  /// Why the tool may not be offered in `state`, or nil when every precondition holds:
  /// each required scope granted, for each output pattern some tool output present that
  /// it matches (`Glob.matchesOutput`), each milestone reached.
  func unmet(in state: SessionState) -> String? {
    if let scope = scopes.first(where: { !state.scopes.contains($0) }) { return "missing scope \(scope)" }
    if let pattern = outputs.first(where: { p in !state.toolOutputs.contains { Glob.matchesOutput(p, $0) } }) {
      return "no output from \(pattern)"
    }
    if let milestone = milestones.first(where: { !state.milestones.contains($0) }) {
      return "milestone \(milestone) not reached"
    }
    return nil
  }

  /// Problems in how the preconditions are written, for refusing a catalog.
  var problems: [String] {
    (scopes + outputs + milestones).filter { $0.isEmpty || $0.utf8.count > 256 }.isEmpty
      ? [] : ["preconditions must be 1...256 bytes each"]
  }
}

/// Shell-style patterns for tool names: `*` matches any run of characters, `?` one.
enum Glob {
  /// Whether a tool output (`catalog/tool` or a bare tool name) matches a has-output
  /// pattern: a pattern with a '/' against the whole name, one without against the tool
  /// part, so "search_*" is met by "github/search_code" and by "search_code".
  static func matchesOutput(_ pattern: String, _ output: String) -> Bool {
    if pattern.contains("/") { return matches(pattern, output) }
    return matches(pattern, String(output.split(separator: "/", omittingEmptySubsequences: false).last ?? ""))
  }

  static func matches(_ pattern: String, _ name: String) -> Bool {
    let p = Array(pattern.unicodeScalars)
    let n = Array(name.unicodeScalars)
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    var (pi, ni) = (0, 0)
    var star: Int?
    var resume = 0
    while ni < n.count {
      if pi < p.count && (p[pi] == "?" || p[pi] == n[ni]) {
        pi += 1
        ni += 1
      } else if pi < p.count && p[pi] == "*" {
        star = pi
        resume = ni
        pi += 1
      } else if let s = star {
        pi = s + 1
        resume += 1
        ni = resume
      } else {
        return false
      }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
  }
}
