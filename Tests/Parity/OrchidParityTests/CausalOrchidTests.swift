import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Orchid

/// zoo's causal Orchid operator (fixture weights): its definition, causality, and
/// prefill + step-by-step against one call.
final class CausalOrchidTests: XCTestCase {
  /// The running-DFT implementation against the float64 time-domain definition, over a
  /// full l_max window (the fixture's x) and a shorter random sequence.
  func testMatchesDefinitionInFloat64() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    let reference = CausalOrchidReference(config: op.config, weight: fixture.weight)
    var generator = NormalGenerator(seed: 11)
    for (name, u) in [("x", try fixture.tensor("x")), ("random, 37 rows", generator.values(37 * 32))] {
      let rowCount = u.count / 32
      var state = [Float](repeating: 0, count: op.causalStateCount)
      let out = op.runCausal(u, rows: rowCount, position: 0, state: &state)
      let expected = reference.run(rows(u, width: 32)).flatMap { $0.map(Float.init) }
      assertClose(out, expected, .float64Reference, "causal operator vs float64 definition (\(name))")
    }
  }

  /// Changing the tokens after position t leaves outputs 0...t unchanged and changes the
  /// later ones. Unchanged up to rounding, not bit for bit: the FFTs mix every input into
  /// every output, and the future's contribution cancels in exact arithmetic only.
  func testCausality() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    let x = try fixture.tensor("x")
    var state = [Float](repeating: 0, count: op.causalStateCount)
    let base = op.runCausal(x, rows: 64, position: 0, state: &state)
    var generator = NormalGenerator(seed: 3)
    for t in [0, 1, 17, 40, 62] {
      var changed = x
      for i in ((t + 1) * 32)..<(64 * 32) { changed[i] = generator.next() }
      var other = [Float](repeating: 0, count: op.causalStateCount)
      let out = op.runCausal(changed, rows: 64, position: 0, state: &other)
      assertClose(
        Array(out[..<((t + 1) * 32)]), Array(base[..<((t + 1) * 32)]), .reordered,
        "orchid causal operator: outputs ≤ \(t) after the inputs after \(t) changed")
      assertDiffer(Array(out[((t + 1) * 32)...]), Array(base[((t + 1) * 32)...]), "orchid causal operator: outputs after \(t)")
    }
  }

  /// Prefill in pieces, then one token at a time, equals one call over the whole window;
  /// the state after both is the same.
  func testPrefillAndStepsEqualOneCall() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    let x = try fixture.tensor("x")
    var whole = [Float](repeating: 0, count: op.causalStateCount)
    let full = op.runCausal(x, rows: 64, position: 0, state: &whole)
    var state = [Float](repeating: 0, count: op.causalStateCount)
    var pieces: [Float] = []
    var position = 0
    for rowCount in [20, 7] + Array(repeating: 1, count: 37) {
      let slice = Array(x[(position * 32)..<((position + rowCount) * 32)])
      pieces += op.runCausal(slice, rows: rowCount, position: position, state: &state)
      position += rowCount
    }
    assertClose(pieces, full, .reordered, "causal operator: prefill 20 + 7, then 37 single steps, vs one call")
    assertClose(state, whole, .reordered, "causal operator: state after steps vs after one call")
  }
}
