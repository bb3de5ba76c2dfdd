import XCTest

@testable import ToolGate
import ZooProto

/// The gate's parts on their own: the JSON Schema checks, glob patterns, the ranking walk.
final class JSONSchemaTests: XCTestCase {
  func violation(_ schema: String, _ value: String) throws -> JSONSchema.Violation? {
    do {
      try JSONSchema(json: schema).validate(try JSONValue.parse(value))
      return nil
    } catch let v as JSONSchema.Violation {
      return v
    }
  }

  func testTypesAndBoolsAreDistinct() throws {
    XCTAssertNil(try violation(#"{"type":"integer"}"#, "3"))
    XCTAssertNil(try violation(#"{"type":"number"}"#, "3"))
    XCTAssertEqual(try violation(#"{"type":"integer"}"#, "3.5")?.message, "must be integer; got number")
    XCTAssertEqual(try violation(#"{"type":"integer"}"#, "true")?.message, "must be integer; got boolean")
    XCTAssertEqual(try violation(#"{"type":"boolean"}"#, "1")?.message, "must be boolean; got integer")
    XCTAssertNil(try violation(#"{"type":["string","null"]}"#, "null"))
  }

  func testObjectsNameTheField() throws {
    let schema = #"""
      {"type":"object","required":["repo"],"additionalProperties":false,
       "properties":{"repo":{"type":"string","pattern":"^[a-z]+/[a-z]+$"},
                     "labels":{"type":"array","items":{"enum":["bug","docs"]},"maxItems":2},
                     "a/b":{"type":"string"}}}
      """#
    XCTAssertNil(try violation(schema, #"{"repo":"a/b","labels":["bug"]}"#))
    XCTAssertEqual(try violation(schema, "{}"), .init(pointer: "/repo", message: "is required but missing"))
    XCTAssertEqual(try violation(schema, #"{"repo":"A"}"#)?.pointer, "/repo")
    XCTAssertEqual(try violation(schema, #"{"repo":"a/b","labels":["bug","wip"]}"#)?.pointer, "/labels/1")
    XCTAssertEqual(try violation(schema, #"{"repo":"a/b","labels":["bug","docs","bug"]}"#)?.message, "takes at most 2 items; got 3")
    XCTAssertEqual(try violation(schema, #"{"repo":"a/b","a/b":1}"#)?.pointer, "/a~1b")
    XCTAssertEqual(try violation(schema, #"{"repo":"a/b","x":1}"#)?.message, "is not a known argument; the tool takes a/b, labels, repo")
  }

  func testReferencesAndCombinators() throws {
    let schema = #"""
      {"$defs":{"n":{"type":"integer","minimum":1}},"type":"object",
       "properties":{"count":{"$ref":"#/$defs/n"},"id":{"anyOf":[{"type":"string"},{"type":"integer"}]},
                     "mode":{"oneOf":[{"const":"a"},{"const":"b"}]}}}
      """#
    XCTAssertNil(try violation(schema, #"{"count":2,"id":"x","mode":"a"}"#))
    XCTAssertEqual(try violation(schema, #"{"count":0}"#)?.message, "must be >= 1; got 0")
    XCTAssertEqual(try violation(schema, #"{"id":true}"#)?.pointer, "/id")
    XCTAssertEqual(try violation(schema, #"{"mode":"c"}"#)?.message, "must match exactly one of oneOf's 2 schemas; matches 0")
    XCTAssertThrowsError(try JSONSchema(json: ##"{"properties":{"a":{"$ref":"#/$defs/x"}}}"##))
    XCTAssertThrowsError(try JSONSchema(json: "[1]"))
    XCTAssertThrowsError(try JSONSchema(json: #"{"type":"#))
  }

  func testCanonicalJSONIsCompactAndSorted() throws {
    let value = try JSONValue.parse(#"{"b": [1, 2.5, true, null], "a": "x\"y\n"}"#)
    XCTAssertEqual(value.canonical, #"{"a":"x\"y\n","b":[1,2.5,true,null]}"#)
  }
}

final class GateTests: XCTestCase {
  func testGlobs() {
    XCTAssertTrue(Glob.matches("search_*", "search_code"))
    XCTAssertTrue(Glob.matches("*_issue", "github_create_issue"))
    XCTAssertTrue(Glob.matches("get_?ile", "get_file"))
    XCTAssertFalse(Glob.matches("search_*", "web_search"))
    XCTAssertTrue(Glob.matches("a*b*c", "axxbyyc"))
    XCTAssertFalse(Glob.matches("a*b*c", "axxbyy"))
    XCTAssertTrue(Glob.matchesOutput("search_*", "github/search_code"))
    XCTAssertTrue(Glob.matchesOutput("run_query", "database/run_query"))
    XCTAssertTrue(Glob.matchesOutput("filesystem/read_*", "filesystem/read_file"))
    XCTAssertFalse(Glob.matchesOutput("filesystem/read_*", "github/read_file"))
    XCTAssertFalse(Glob.matchesOutput("filesystem/read_*", "read_file"))
  }

  /// The official router's walk: slate first, then threshold, then preconditions, then k.
  func testWalkOrderAndReasons() {
    let iso: [Float] = [0.9, 0.1, 0.5, 0.8, 0.7, 0.3]
    let settings = GateSettings(threshold: 0.28, topK: 2, slate: 5)
    let decisions = Gate.gate(iso: iso, settings: settings) { $0 == 3 ? "missing scope s" : nil }
    XCTAssertEqual(decisions.map(\.index), [0, 3, 4, 2, 5, 1])
    XCTAssertEqual(
      decisions.map(\.excluded),
      [nil, "missing scope s", nil, "top_k 2 reached", "top_k 2 reached", "outside the slate of 5"])
    XCTAssertEqual(GateSettings(topK: 10).effectiveSlate, 40)
    XCTAssertEqual(GateSettings(topK: 3).effectiveSlate, 20)
    let below = Gate.gate(iso: [0.2], settings: GateSettings()) { _ in nil }
    XCTAssertEqual(below.first?.excluded, "below threshold 0.28")
  }

  func testPreconditions() {
    var state = SessionState()
    let p = Zoo_V1_ToolPreconditions.with {
      $0.scopes = ["github:write"]
      $0.outputs = ["search_*"]
      $0.milestones = ["plan_confirmed"]
    }
    XCTAssertEqual(p.unmet(in: state), "missing scope github:write")
    state.scopes = ["github:write"]
    XCTAssertEqual(p.unmet(in: state), "no output from search_*")
    state.toolOutputs = ["search_code"]
    XCTAssertEqual(p.unmet(in: state), "milestone plan_confirmed not reached")
    state.milestones = ["plan_confirmed"]
    XCTAssertNil(p.unmet(in: state))
  }
}
