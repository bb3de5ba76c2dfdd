import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// Mamba's and Mamba-2's batched decode step against the same sequences stepped one at a
/// time; a refused batch leaves every state as it was.
final class BatchedStepTests: XCTestCase {
  func testMambaBatchedStepEqualsSteppingEachAlone() throws {
    let fixture = try HFFixture.named("mamba-hf")
    try assertBatchedStepsMatchSteppingAlone(
      try MambaBuilder.load(fixture.context(), prefillChunkRows: 512), tokens: fixture.tokens, lengths: [3, 7, 12],
      "mamba")
  }

  func testMamba2BatchedStepEqualsSteppingEachAlone() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    try assertBatchedStepsMatchSteppingAlone(
      try Mamba2Builder.load(fixture.context(), prefillChunkRows: 512), tokens: fixture.tokens, lengths: [3, 7, 12],
      "mamba2")
  }

  func testRefusedBatchLeavesEveryStateUnchanged() throws {
    let fixture = try HFFixture.named("mamba-hf")
    let model = try MambaBuilder.load(fixture.context(), prefillChunkRows: 512)
    let states = try [3, 5].map { length in
      let state = try model.makeState() as! RecurrentState
      try Array(fixture.tokens.prefix(length)).withUnsafeBufferPointer { t in
        try model.forward(ForwardInput(tokens: t), state: state, output: ForwardOutput())
      }
      return state
    }
    func storage(_ state: RecurrentState) -> [Float] { Array(UnsafeBufferPointer(start: state.storage, count: state.floatCount)) }
    let before = states.map(storage)
    var logits = [Float](repeating: 0, count: 2 * model.info.vocabularySize)
    let tokens: [Int32] = [1, Int32(model.info.vocabularySize)]
    XCTAssertThrowsError(
      try tokens.withUnsafeBufferPointer { t in
        try logits.withUnsafeMutableBufferPointer { try model.step(t, states: states, logits: $0.baseAddress!) }
      }
    ) { XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)") }
    XCTAssertEqual(states.map(storage), before)
    XCTAssertEqual(states.map(\.length), [3, 5])
  }
}
