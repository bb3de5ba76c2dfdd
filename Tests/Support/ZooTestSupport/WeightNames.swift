import XCTest
import ZooPluginKit

/// Holds a builder's declared weight names (its manifest's `weights` patterns) to what
/// its loads really asked for: every name a load read must match a declared pattern, and
/// every declared pattern must match a name some load asked for (read, looked for with
/// `contains`, or left out by its config through `optionalTensor`). `loads` are the
/// `Weights` the builder loaded from, after loading, so optional names absent from one
/// checkpoint can be covered by another.
public func assertWeightNamesDeclared(
  _ declared: [String], loads: [Weights], _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
  let patterns = declared.map(WeightNamePattern.init)
  let read = loads.reduce(into: Set<String>()) { $0.formUnion($1.namesRead) }
  let asked = loads.reduce(into: Set<String>()) { $0.formUnion($1.namesAskedFor) }
  XCTAssertFalse(read.isEmpty, "\(what): the loads read no weights", file: file, line: line)
  let undeclared = read.filter { name in !patterns.contains { $0.matches(name) } }.sorted()
  XCTAssertEqual(undeclared, [], "\(what): weights read but not declared", file: file, line: line)
  let unused = patterns.filter { pattern in !asked.contains { pattern.matches($0) } }.map(\.description)
  XCTAssertEqual(unused, [], "\(what): declared weight names no load asked for", file: file, line: line)
}
