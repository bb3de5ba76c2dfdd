import XCTest
import ZooPluginKit
import ZooTestSupport

/// The masked-diffusion backbones against their official modeling code:
/// Tests/Fixtures/llada-tiny (Fast-dLLM's LLaDAModelLM) and dream-tiny (Fast-dLLM's
/// DreamModel, whose logits zoo shifts right by one position as Dream's generation code
/// does). Both run bidirectionally, with their mask token in the model info.
final class DiffusionModelParityTests: XCTestCase {
  func testLLaDAAgainstOfficialModel() throws {
    let model = try TestModel(fixture: "llada-tiny")
    XCTAssertEqual(model.info.maskKinds, [.bidirectional])
    XCTAssertEqual(model.info.specialTokens.mask, 63)
    let io = try TensorFile(try FixtureLocation.folder("llada-tiny").appendingPathComponent("expected.safetensors"))
    let full = try model.fresh(try io.tokens("input_ids"), mask: .bidirectional)
    assertClose(full.logits, try io.floats("logits"), .official, "llada-tiny bidirectional logits")
  }

  /// Dream's logits at position p are the network's output at p − 1 (p = 0 keeps its
  /// own): zoo returns them shifted, in one call and when only a window is re-run
  /// against the cache (its first row then reads the kept hidden state before it).
  func testDreamAgainstOfficialModelWithShiftedLogits() throws {
    let model = try TestModel(fixture: "dream-tiny")
    XCTAssertEqual(model.info.maskKinds, [.bidirectional])
    XCTAssertEqual(model.info.specialTokens.mask, 63)
    let io = try TensorFile(try FixtureLocation.folder("dream-tiny").appendingPathComponent("expected.safetensors"))
    let ids = try io.tokens("input_ids")
    let shifted = try io.floats("shifted_logits")
    let v = model.info.vocabularySize
    let state = try model.handle.makeState()
    let full = try model.run(ids, state, mask: .bidirectional)
    assertClose(full.logits, shifted, .official, "dream-tiny shifted logits")

    let window = 10..<ids.count
    let again = try model.run(
      Array(ids[window]), state, positions: window.map(Int64.init), mask: .bidirectional)
    assertClose(again.logits, Array(shifted[window.lowerBound * v..<ids.count * v]), .official, "dream-tiny window re-run")
  }
}
