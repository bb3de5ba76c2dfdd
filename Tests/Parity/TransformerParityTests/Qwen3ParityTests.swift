import XCTest
import ZooPluginKit
import ZooTestSupport

/// The `qwen3` builder against official outputs: the gated-attention fixtures
/// (qiuzh20/gated_attention, headwise and elementwise gates) and a plain Hugging Face
/// Qwen3ForCausalLM (Tests/Fixtures/tiny-qwen3: biases, tied head, 3 heads per KV head).
final class Qwen3ParityTests: XCTestCase {
  /// Full causal forward, and prefill of 10 then 10 single-token steps, against the
  /// fixture's `logits` and `prefill10_decode10_logits`.
  func checkGatedFixture(_ name: String) throws {
    let model = try TestModel(fixture: name)
    let io = try TensorFile(FixtureLocation.folder(name).appendingPathComponent("io.safetensors"))
    let ids = try io.tokens("input_ids")
    let v = model.info.vocabularySize

    let full = try model.fresh(ids)
    assertClose(full.logits, try io.floats("logits"), .official, "\(name) full forward logits")

    let state = try model.handle.makeState()
    var stepped = try model.run(Array(ids[..<10]), state).logits
    for i in 10..<ids.count { stepped += try model.run([ids[i]], state).logits }
    XCTAssertEqual(state.length, ids.count)
    assertClose(stepped, try io.floats("prefill10_decode10_logits"), .official, "\(name) prefill10 + decode10 logits")
    XCTAssertEqual(stepped.count, ids.count * v)
  }

  func testHeadwiseGate() throws { try checkGatedFixture("gated-attention-headwise") }

  func testElementwiseGate() throws { try checkGatedFixture("gated-attention-elementwise") }

  /// The gate flags decide q_proj's shape: the headwise checkpoint with its flag off is
  /// refused at load, naming the weight.
  func testGateFlagsSelectTheLayout() throws {
    XCTAssertThrowsError(
      try TestModel(fixture: "gated-attention-headwise", configOverrides: ["headwise_attn_output_gate": false])
    ) { error in
      XCTAssertTrue("\(error)".contains("q_proj.weight"), "\(error)")
    }
  }

  /// Plain Qwen3 (no gate) as transformers 5.23.0 computes it: logits and final hidden
  /// states, full forward and token by token.
  func testPlainQwen3AgainstTransformers() throws { try checkCausalFixture("tiny-qwen3") }

  func testManifestAndInfo() throws {
    let plugin = try TransformerPlugin.plugin()
    XCTAssertEqual(plugin.manifest.name, "transformer")
    let types = Dictionary(uniqueKeysWithValues: plugin.manifest.modelTypes.map { ($0.modelType, $0) })
    XCTAssertEqual(Set(types.keys), ["qwen3", "llama", "qwen2", "llada", "dream", "ilm", "bert"])
    XCTAssertEqual(types["ilm"]?.capabilities.stopHead, true)
    let qwen = try XCTUnwrap(types["qwen3"])
    XCTAssertEqual(qwen.capabilities.causality, .causal)
    XCTAssertEqual(qwen.capabilities.stateGrowth, .perToken)
    XCTAssertTrue(qwen.capabilities.stateCopy && qwen.capabilities.stateTruncate)
    XCTAssertFalse(qwen.capabilities.recurrentStep)
    XCTAssertEqual(types["bert"]?.capabilities.causality, .bidirectional)
    XCTAssertEqual(types["bert"]?.capabilities.embeddings, true)

    let model = try TestModel(fixture: "gated-attention-headwise")
    let info = model.info
    XCTAssertEqual(info.vocabularySize, 256)
    XCTAssertEqual(info.hiddenSize, 64)
    XCTAssertEqual(info.maxPositions, 128)
    XCTAssertEqual(info.maskKinds, [.causal, .bidirectional, .blockCausal])
    XCTAssertFalse(info.stateIsFixed)
    // 2 layers × (K and V) × 2 KV heads × 16 floats × 4 bytes per token.
    XCTAssertEqual(info.stateBytes, 2 * 2 * 2 * 16 * 4)
    XCTAssertEqual(info.embeddingSize, 0)
  }
}
