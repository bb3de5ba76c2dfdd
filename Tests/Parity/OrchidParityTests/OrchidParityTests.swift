import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Orchid

/// The operator against the official OrchidOperator outputs in Tests/Fixtures/orchid
/// (Karami-m/orchid 061f6df, d_model 32, l_max 64, dxt 'fft', Type I conditioning).
final class OrchidParityTests: XCTestCase {
  /// `y`: the official operator with the frequency-domain conditioning (causal=False).
  func testBidirectionalOperatorMatchesOfficialOutput() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    assertClose(op.run(try fixture.tensor("x"), length: 64), try fixture.tensor("y"), .official, "bidirectional y (L = 64)")
  }

  /// `y_len48`: L < l_max, so the static kernels are their first 48 taps and the FFT is 48 long.
  func testBidirectionalOperatorOnShorterSequence() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    assertClose(op.run(try fixture.tensor("x_len48"), length: 48), try fixture.tensor("y_len48"), .official, "bidirectional y_len48")
  }

  /// `y_causal_flag_default`: the official default path (time-domain adaptive kernel from a
  /// 2L transform), which zoo runs per sequence.
  func testTimeDomainConditioningMatchesOfficialDefaultPath() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator(causal: true)
    assertClose(
      op.run(try fixture.tensor("x"), length: 64), try fixture.tensor("y_causal_flag_default"),
      .official,
      "official default path (causal flag) y_causal_flag_default")
  }

  /// zoo's causal variant uses the official time-domain path on a fixed 2·l_max grid. Over a
  /// whole l_max window with the official symmetric time padding, its last position sees
  /// the whole sequence and its linear convolution equals the circular one there, so it
  /// must reproduce the official default path's last output row.
  func testCausalVariantLastPositionMatchesOfficialDefaultPath() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    var state = [Float](repeating: 0, count: op.causalStateCount)
    let out = op.runCausal(try fixture.tensor("x"), rows: 64, position: 0, state: &state, symmetric: true)
    let expected = try fixture.tensor("y_causal_flag_default")
    assertClose(Array(out[(63 * 32)...]), Array(expected[(63 * 32)...]), .official, "causal variant, last row vs official default path")
    // Earlier rows see only their prefix, so they must differ from the official ones.
    assertDiffer(Array(out[(62 * 32)..<(63 * 32)]), Array(expected[(62 * 32)..<(63 * 32)]), "causal variant, row 62")
  }

  /// The published operator is not causal (fixture README: the last token moves position 0).
  func testBidirectionalOperatorSeesTheFuture() throws {
    let fixture = try OrchidFixture.load()
    let op = try fixture.makeOperator()
    var x = try fixture.tensor("x")
    let before = op.run(x, length: 64)
    for j in 0..<32 { x[63 * 32 + j] += 1 }
    let after = op.run(x, length: 64)
    assertDiffer(Array(after[0..<32]), Array(before[0..<32]), "orchid bidirectional: position 0 after +1 on the last token")
  }

  /// Calls on many threads at once (FFTW plans made on first use, under a lock, then
  /// shared) give the same outputs as one at a time.
  func testConcurrentCallsAgreeWithSerialOnes() throws {
    let fixture = try OrchidFixture.load()
    let operators = [try fixture.makeOperator(), try fixture.makeOperator(causal: true)]
    var generator = NormalGenerator(seed: 9)
    let lengths = [5, 17, 31, 48, 63, 64, 90, 127]
    let inputs = lengths.map { generator.values($0 * 32) }
    let serial = operators.map { op in zip(inputs, lengths).map { op.run($0, length: $1) } }
    let jobs = operators.indices.flatMap { o in lengths.indices.map { (o, $0) } }
    nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: jobs.count * 4)
    results.initialize(repeating: [])
    defer { results.deallocate() }
    DispatchQueue.concurrentPerform(iterations: jobs.count * 4) { i in
      let (o, l) = jobs[i % jobs.count]
      results[i] = operators[o].run(inputs[l], length: lengths[l])
    }
    for (i, result) in results.enumerated() {
      let (o, l) = jobs[i % jobs.count]
      XCTAssertEqual(result, serial[o][l], "operator \(o), length \(lengths[l])")
    }
  }
}
