import XCTest
import ZooPluginKit
import ZooTestSupport

/// The ILM network against the official RotaryTransformerILMModelWithStoppingClassification
/// (Tests/Fixtures/ilm-tiny, dhruvdcoder/ILM @ 04f78bd): insertion logits and the stop
/// head for sequences stored in shuffled order with explicit logical positions, through
/// the C ABI.
final class ILMParityTests: XCTestCase {
  func testLogitsAndStopHeadMatchTheOfficialModelInAnyStorageOrder() throws {
    let model = try TestModel(fixture: "ilm-tiny")
    XCTAssertEqual(model.info.maskKinds, [.bidirectional])
    XCTAssertEqual(model.info.heads, [OutputHead(name: "stop", width: 2)])
    XCTAssertEqual(model.info.specialTokens.cls, 1)
    XCTAssertEqual(model.info.specialTokens.bos, 2)
    XCTAssertNil(model.info.specialTokens.mask, "an ILM is not a masked-diffusion model")
    let io = try TensorFile(try FixtureLocation.folder("ilm-tiny").appendingPathComponent("expected.safetensors"))
    let stop = try XCTUnwrap(model.info.head(named: "stop"))
    for name in ["fwd_natural_9", "fwd_shuffled_9", "fwd_shuffled_6", "fwd_shuffled_13"] {
      let tokens = try io.tokens("\(name).tokens")
      let positions = try io.tokens("\(name).positions").map(Int64.init)
      var logits = [Float](repeating: .nan, count: tokens.count * model.info.vocabularySize)
      var heads = [Float](repeating: .nan, count: tokens.count * 2)
      let state = try model.handle.makeState()
      try tokens.withUnsafeBufferPointer { t in
        try positions.withUnsafeBufferPointer { p in
          try logits.withUnsafeMutableBufferPointer { l in
            try heads.withUnsafeMutableBufferPointer { h in
              try model.handle.forward(
                t, state: state, positions: p, mask: .bidirectional, logits: l.baseAddress, head: (stop, h.baseAddress!))
            }
          }
        }
      }
      assertClose(logits, try io.floats("\(name).vocab_logits"), .official, "\(name) insertion logits")
      // The stop head reads the CLS row, storage row 0.
      assertClose(Array(heads[0..<2]), try io.floats("\(name).stop_logits"), .official, "\(name) stop logits")
    }
  }

  func testCausalForwardIsRefused() throws {
    let model = try TestModel(fixture: "ilm-tiny")
    XCTAssertThrowsError(try model.fresh([1, 2, 7], mask: .causal))
  }
}
