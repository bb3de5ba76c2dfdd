import XCTest
import ZooABI
import ZooPluginKit
import ZooTestSupport

/// The decoder stack's batched decode step through the C ABI (forward_batch), against
/// the same sequences stepped one at a time: equal logits for two steps in a row (so the
/// batch wrote each sequence's keys and values into its own cache), for sequences of
/// different lengths; models without a causal step do not offer it.
final class TransformerBatchedStepTests: XCTestCase {
  func testPlainQwen3() throws { try checkBatchedSteps("tiny-qwen3") }

  func testGatedQwen3() throws { try checkBatchedSteps("gated-attention-elementwise") }

  func testLlama() throws { try checkBatchedSteps("tiny-llama") }

  func testOnlyCausalDecodersBatch() throws {
    XCTAssertTrue(try TestModel(fixture: "tiny-qwen3").handle.batchesSteps)
    XCTAssertFalse(try TestModel(fixture: "llada-tiny").handle.batchesSteps, "LLaDA is bidirectional: no decode step")
    XCTAssertFalse(try TestModel(fixture: "tiny-bert").handle.batchesSteps)
  }

  func testRefusedBatchLeavesEveryCacheUnchanged() throws {
    let model = try TestModel(fixture: "tiny-qwen3")
    let ids = try fixtureIDs("tiny-qwen3")
    let states = try [2, 4].map { length in
      let state = try model.handle.makeState()
      _ = try model.run(Array(ids[..<length]), state)
      return state
    }
    var logits = [Float](repeating: 0, count: 2 * model.info.vocabularySize)
    let tokens: [Int32] = [ids[2], -1]
    XCTAssertThrowsError(
      try tokens.withUnsafeBufferPointer { t in
        try model.handle.forwardBatch(t, states: states.map(\.pointer), logits: &logits)
      }
    ) { XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)") }
    XCTAssertEqual(states.map(\.length), [2, 4])
  }

  /// The fixture's input ids (in io.safetensors, or expected.safetensors for the
  /// Hugging Face fixtures).
  private func fixtureIDs(_ name: String) throws -> [Int32] {
    let folder = try FixtureLocation.folder(name)
    let io = folder.appendingPathComponent("io.safetensors")
    let file = FileManager.default.fileExists(atPath: io.path) ? io : folder.appendingPathComponent("expected.safetensors")
    return try TensorFile(file).tokens("input_ids")
  }

  /// Sequences of 2, 5 and 9 fixture tokens take their next two tokens in batches;
  /// copies of them take them one at a time.
  private func checkBatchedSteps(_ name: String) throws {
    let model = try TestModel(fixture: name)
    XCTAssertTrue(model.handle.batchesSteps)
    let ids = try fixtureIDs(name)
    let lengths = [2, 5, 9]
    let batched = try lengths.map { length in
      let state = try model.handle.makeState()
      _ = try model.run(Array(ids[..<length]), state)
      return state
    }
    let alone = try batched.map { try $0.copy() }
    let v = model.info.vocabularySize
    for step in 0..<2 {
      let tokens = lengths.map { ids[$0 + step] }
      var logits = [Float](repeating: .nan, count: lengths.count * v)
      try tokens.withUnsafeBufferPointer { t in
        try model.handle.forwardBatch(t, states: batched.map(\.pointer), logits: &logits)
      }
      for i in lengths.indices {
        let single = try model.run([tokens[i]], alone[i]).logits
        assertClose(
          Array(logits[(i * v)..<((i + 1) * v)]), single, .reordered,
          "\(name) sequence \(i) (\(lengths[i] + step) tokens before) batched step \(step)")
        XCTAssertEqual(batched[i].length, lengths[i] + step + 1)
      }
    }
  }
}
