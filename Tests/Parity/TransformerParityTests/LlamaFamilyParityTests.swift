import XCTest
import ZooPluginKit
import ZooTestSupport

/// The `llama` and `qwen2` builders against Hugging Face transformers
/// (Tests/Fixtures/tiny-llama, tiny-qwen2): each family's biases, head tying and
/// grouped-query shapes, full forward and token by token.
final class LlamaFamilyParityTests: XCTestCase {
  func testLlamaAgainstTransformers() throws { try checkCausalFixture("tiny-llama") }

  func testQwen2AgainstTransformers() throws { try checkCausalFixture("tiny-qwen2") }

  /// Plain causal LMs offer only the causal mask: a bidirectional call is refused and
  /// leaves the state as it was.
  func testCausalFamiliesRefuseOtherMasks() throws {
    for name in ["tiny-llama", "tiny-qwen2"] {
      let model = try TestModel(fixture: name)
      XCTAssertEqual(model.info.maskKinds, [.causal], name)
      let state = try model.handle.makeState()
      XCTAssertThrowsError(try model.run([1, 2, 3], state, mask: .bidirectional)) { error in
        XCTAssertTrue("\(error)".contains("bidirectional"), "\(name): \(error)")
      }
      XCTAssertEqual(state.length, 0, name)
    }
  }
}
