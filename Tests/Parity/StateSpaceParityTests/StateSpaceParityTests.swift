import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// Mamba-1 and Mamba-2 against the Hugging Face transformers 5.23.0 fixtures in
/// Tests/Fixtures/mamba-hf and mamba2-hf (see their READMEs): full forward,
/// token-by-token decode, prefill + decode, final conv/SSM states; all within
/// `Tolerance.official`.
final class StateSpaceParityTests: XCTestCase {
  // MARK: Mamba-1

  func testMambaFullForwardMatchesLogits() throws {
    let fixture = try HFFixture.named("mamba-hf")
    try checkFullForward(fixture, try MambaBuilder.load(fixture.context(), prefillChunkRows: 512), "mamba logits")
  }

  func testMambaChunkedPrefillMatchesLogits() throws {
    // Chunks of 5 rows: 24 tokens cross four chunk boundaries, one partial chunk.
    let fixture = try HFFixture.named("mamba-hf")
    try checkFullForward(
      fixture, try MambaBuilder.load(fixture.context(), prefillChunkRows: 5), "mamba logits (prefill chunks of 5)")
  }

  func testMambaTokenByTokenMatchesStepLogits() throws {
    let fixture = try HFFixture.named("mamba-hf")
    try checkStepByStep(fixture, try MambaBuilder.load(fixture.context()), "mamba step_logits")
  }

  func testMambaPrefill12ThenDecodeMatches() throws {
    let fixture = try HFFixture.named("mamba-hf")
    try checkPrefillThenDecode(fixture, try MambaBuilder.load(fixture.context()), "mamba prefill12_decode_logits")
  }

  func testMambaFinalStatesMatch() throws {
    let fixture = try HFFixture.named("mamba-hf")
    let model = try MambaBuilder.load(fixture.context(), prefillChunkRows: 512)
    let mixer = model.mixers[0] as! MambaMixer
    let inner = mixer.innerSize
    let n = mixer.stateSize
    for (how, state) in try finalStates(fixture, model) {
      for layer in 0..<model.mixers.count {
        // Hugging Face keeps h as [d_inner, N]; zoo keeps it n-major.
        let ssm = state.ssmState(layer: layer)
        let hfSSM = (0..<inner * n).map { i in ssm[(i % n) * inner + i / n] }
        assertClose(hfSSM, try fixture.expected("final_ssm_state.\(layer)"), .official, "mamba final_ssm_state.\(layer) (\(how))")
        assertClose(
          hfConvState(state, layer: layer, kernel: mixer.kernelSize),
          try fixture.expected("final_conv_state.\(layer)"), .official, "mamba final_conv_state.\(layer) (\(how))")
      }
    }
  }

  // MARK: Mamba-2

  func testMamba2FullForwardMatchesLogits() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    try checkFullForward(fixture, try Mamba2Builder.load(fixture.context(), prefillChunkRows: 512), "mamba2 logits")
  }

  func testMamba2ChunkedPrefillMatchesLogits() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    try checkFullForward(
      fixture, try Mamba2Builder.load(fixture.context(), prefillChunkRows: 8), "mamba2 logits (prefill chunks of 8)")
  }

  func testMamba2TokenByTokenMatchesStepLogits() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    try checkStepByStep(fixture, try Mamba2Builder.load(fixture.context()), "mamba2 step_logits")
  }

  func testMamba2Prefill12ThenDecodeMatches() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    try checkPrefillThenDecode(fixture, try Mamba2Builder.load(fixture.context()), "mamba2 prefill12_decode_logits")
  }

  func testMamba2FinalStatesMatch() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    let model = try Mamba2Builder.load(fixture.context(), prefillChunkRows: 512)
    for (how, state) in try finalStates(fixture, model) {
      for layer in 0..<model.mixers.count {
        // Same [H, P, N] layout as Hugging Face.
        let ssm = Array(UnsafeBufferPointer(start: state.ssmState(layer: layer), count: state.layout.ssmCount))
        assertClose(ssm, try fixture.expected("final_ssm_state.\(layer)"), .official, "mamba2 final_ssm_state.\(layer) (\(how))")
        assertClose(
          hfConvState(state, layer: layer, kernel: (model.mixers[0] as! Mamba2Mixer).kernelSize),
          try fixture.expected("final_conv_state.\(layer)"), .official, "mamba2 final_conv_state.\(layer) (\(how))")
      }
    }
  }

  // MARK: Shared checks

  private func checkFullForward(_ fixture: HFFixture, _ model: any Model, _ what: String) throws {
    let state = try model.makeState()
    let result = try runForward(model, state: state, tokens: fixture.tokens)
    assertClose(result.logits, try fixture.expected("logits"), .official, what)
    XCTAssertEqual(state.length, fixture.tokens.count)
  }

  private func checkStepByStep(_ fixture: HFFixture, _ model: any Model, _ what: String) throws {
    let state = try model.makeState()
    var logits: [Float] = []
    for (i, token) in fixture.tokens.enumerated() {
      // Explicit positions on every other step: both forms must be accepted.
      let positions: [Int64]? = i.isMultiple(of: 2) ? [Int64(i)] : nil
      logits += try runForward(model, state: state, tokens: [token], positions: positions).logits
    }
    assertClose(logits, try fixture.expected("step_logits"), .official, what)
  }

  private func checkPrefillThenDecode(_ fixture: HFFixture, _ model: any Model, _ what: String) throws {
    let tokens = fixture.tokens
    let state = try model.makeState()
    var logits = try runForward(model, state: state, tokens: Array(tokens[..<12])).logits
    for token in tokens[12...] {
      logits += try runForward(model, state: state, tokens: [token]).logits
    }
    assertClose(logits, try fixture.expected("prefill12_decode_logits"), .official, what)
  }

  /// The state after the whole sequence, reached by one prefill and by single steps.
  private func finalStates(_ fixture: HFFixture, _ model: any Model) throws -> [(String, RecurrentState)] {
    let prefilled = try model.makeState()
    _ = try runForward(model, state: prefilled, tokens: fixture.tokens, wantLogits: false)
    let stepped = try model.makeState()
    for token in fixture.tokens { _ = try runForward(model, state: stepped, tokens: [token], wantLogits: false) }
    return [("prefill", prefilled as! RecurrentState), ("token by token", stepped as! RecurrentState)]
  }

  /// Layer `layer`'s conv state in Hugging Face's layout [channels, K] (zoo keeps [K, channels]).
  private func hfConvState(_ state: RecurrentState, layer: Int, kernel: Int) -> [Float] {
    let channels = state.layout.convCount / kernel
    let conv = state.convState(layer: layer)
    return (0..<channels * kernel).map { i in conv[(i % kernel) * channels + i / kernel] }
  }
}
