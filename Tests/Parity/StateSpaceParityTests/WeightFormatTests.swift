import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// Mamba and Mamba-2 with their weights in F16 and BF16 checkpoints (every tensor
/// stored 16-bit, as published checkpoints are) and quantised to Q8 at load, against
/// the official float32 logits: each within the tolerance of its format.
final class WeightFormatTests: XCTestCase {
  func testSixteenBitCheckpointsAndQ8StayWithinTheirTolerance() throws {
    for name in ["mamba-hf", "mamba2-hf"] {
      let fixture = try HFFixture.named(name)
      let official = try fixture.expected("logits")
      for format in [WeightMatrix.Format.f16, .bf16, .q8] {
        let weights = try WeightFormats.weights(of: fixture.checkpointTensors(), fixture.modelFile, as: format)
        let context = fixture.context(weights: weights)
        // Copied into huge pages, as zood loads them.
        let model =
          name == "mamba-hf"
          ? try MambaBuilder.load(context, copyToHugePages: true)
          : try Mamba2Builder.load(context, copyToHugePages: true)
        // The matrices are kept in the format, not widened at load.
        XCTAssertEqual(model.lmHead.format, format, "\(name) head")
        let mixer = model.mixers[0]
        let inProj = (mixer as? MambaMixer)?.inProj ?? (mixer as! Mamba2Mixer).inProj
        XCTAssertEqual(inProj.matrix.format, format, "\(name) in_proj")
        let state = try model.makeState()
        let logits = try runForward(model, state: state, tokens: fixture.tokens).logits
        assertClose(logits, official, .weights(format), "\(name) logits, \(format.rawValue) weights")
        // Decode steps (the few-rows kernels) agree with the prefill (widened blocks).
        let stepped = try model.makeState()
        var steps: [Float] = []
        for token in fixture.tokens { steps += try runForward(model, state: stepped, tokens: [token]).logits }
        assertClose(steps, logits, .reordered, "\(name) \(format.rawValue) steps against prefill")
      }
    }
  }
}
