import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import GAM

/// GAM against the official rishiraj/gam @ 2ebb82e fixtures in Tests/Fixtures/gam (the
/// whole GAM_Model) and gam-block (one GAMBlock): full forward, prefill + decode, the
/// block alone; all within `Tolerance.official`.
final class GAMParityTests: XCTestCase {
  // MARK: Full model

  func testFullForwardMatchesLogits() throws {
    let fixture = try GAMFixture.named("gam")
    let model = try GAMBuilder.load(fixture.context(), prefillChunkRows: 256)
    let result = try runForward(model, state: try model.makeState(), tokens: fixture.tokens)
    assertClose(result.logits, try fixture.expected("logits"), .official, "gam logits")
  }

  func testChunkedPrefillMatchesLogits() throws {
    // Chunks of 5 rows: the 48 tokens cross nine chunk boundaries, the last chunk partial,
    // so every layer's window is carried from one chunk to the next.
    let fixture = try GAMFixture.named("gam")
    let model = try GAMBuilder.load(fixture.context(), prefillChunkRows: 5)
    let result = try runForward(model, state: try model.makeState(), tokens: fixture.tokens)
    assertClose(result.logits, try fixture.expected("logits"), .official, "gam logits (prefill chunks of 5)")
  }

  func testPrefillThenDecodeMatchesFullForward() throws {
    let fixture = try GAMFixture.named("gam")
    let model = try GAMBuilder.load(fixture.context())
    let tokens = fixture.tokens
    let expected = try fixture.expected("logits")
    let v = model.info.vocabularySize
    // 0 = token by token from the start; 1 and 2 leave the window partly zero-padded.
    for prefill in [0, 1, 2, 24, 47] {
      let state = try model.makeState()
      var logits: [Float] = []
      if prefill > 0 {
        logits += try runForward(model, state: state, tokens: Array(tokens[..<prefill])).logits
      }
      for t in prefill..<tokens.count {
        logits += try runForward(model, state: state, tokens: [tokens[t]]).logits
      }
      XCTAssertEqual(state.length, tokens.count)
      assertClose(logits, expected, .official, "gam prefill \(prefill) + decode \(tokens.count - prefill)")
      // The decoded rows alone, so an error in them cannot hide behind the prefill's.
      assertClose(
        Array(logits[(prefill * v)...]), Array(expected[(prefill * v)...]), .official, "gam decoded rows after prefill \(prefill)")
    }
  }

  /// A batched decode step against stepping each sequence alone; a fresh sequence and
  /// one whose window is still partly zero sit in the batch beside a longer one.
  func testBatchedStepEqualsSteppingEachAlone() throws {
    let fixture = try GAMFixture.named("gam")
    try assertBatchedStepsMatchSteppingAlone(
      try GAMBuilder.load(fixture.context(), prefillChunkRows: 256), tokens: fixture.tokens, lengths: [0, 2, 9], "gam")
  }

  func testLogitRowsAndHiddenStates() throws {
    let fixture = try GAMFixture.named("gam")
    let model = try GAMBuilder.load(fixture.context(), prefillChunkRows: 16)
    let expected = try fixture.expected("logits")
    let v = model.info.vocabularySize
    let d = model.info.hiddenSize
    // Out of order and across chunks of 16.
    let rows: [Int64] = [47, 0, 17, 16, 3]
    let result = try runForward(
      model, state: try model.makeState(), tokens: fixture.tokens, logitRows: rows, wantHidden: true)
    assertClose(
      result.logits, rows.flatMap { expected[Int($0) * v..<(Int($0) + 1) * v] }, .official, "gam logits of rows \(rows)")
    // The hidden states are ln_f's output: through the tied head they must give the
    // fixture's logits for every row.
    let head = try Weights(fixture.weightsFile).tensor("head.weight").buffer
    var fromHidden = [Float](repeating: 0, count: fixture.tokens.count * v)
    for t in 0..<fixture.tokens.count {
      for j in 0..<v {
        var sum: Double = 0
        for c in 0..<d { sum += Double(result.hidden[t * d + c]) * Double(head[j * d + c]) }
        fromHidden[t * v + j] = Float(sum)
      }
    }
    assertClose(fromHidden, expected, .official, "gam hidden states · headᵀ")
  }

  func testEitherKeyOfTheTiedHeadServesBoth() throws {
    // safetensors' save_model stores a tied pair under one key only.
    let fixture = try GAMFixture.named("gam")
    for dropped in ["token_embedding.weight", "head.weight"] {
      let checkpoint = try TemporaryCheckpoint(fixture.checkpointTensors().filter { $0.name != dropped })
      let model = try GAMBuilder.load(fixture.context(weights: checkpoint.weights), prefillChunkRows: 256)
      XCTAssertTrue(model.head === model.tokenEmbedding)
      let result = try runForward(model, state: try model.makeState(), tokens: fixture.tokens)
      assertClose(result.logits, try fixture.expected("logits"), .official, "gam logits without \(dropped)")
    }
  }

  // MARK: One block

  /// The block over rows of one sequence whose window is `window`.
  private func forward(
    _ block: GAMBlock, _ x: UnsafeMutablePointer<Float>, rows: Int, window: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>
  ) {
    LayerStates.withStorage(sequences: 1, rows: rows) { pointers, windows in
      pointers[0] = window
      block.forward(x, rows: rows, windows: windows, scratch: scratch)
    }
  }

  func testBlockMatchesFixture() throws {
    let fixture = try GAMFixture.named("gam-block")
    let block = try GAMBlock(prefix: "", config: fixture.config, weights: Weights(fixture.weightsFile))
    let x = try fixture.expected("x")
    let rows = x.count / block.width
    var y = x
    var window = [Float](repeating: 0, count: block.windowRows * block.width)
    var scratch = [Float](repeating: 0, count: block.scratchCount(rows: rows))
    y.withUnsafeMutableBufferPointer { yp in
      window.withUnsafeMutableBufferPointer { wp in
        scratch.withUnsafeMutableBufferPointer { sp in
          forward(block, yp.baseAddress!, rows: rows, window: wp.baseAddress!, scratch: sp.baseAddress!)
        }
      }
    }
    assertClose(y, try fixture.expected("y"), .official, "gam-block y")
    // Afterwards the window holds LayerNorm₁ of the last k − 1 inputs.
    let d = block.width
    var lastNormed = Array(x[((rows - block.windowRows) * d)...])
    lastNormed.withUnsafeMutableBufferPointer { p in
      Kernels.layerNorm(
        p.baseAddress!, rows: block.windowRows, width: d, weight: block.ln1Weight.pointer, bias: block.ln1Bias.pointer,
        epsilon: 1e-5, into: p.baseAddress!)
    }
    XCTAssertEqual(window, lastNormed)
  }

  func testBlockCarriesItsWindowAcrossCalls() throws {
    // Rows fed 1, 2, 7, then 38 at a time must give the one-call output.
    let fixture = try GAMFixture.named("gam-block")
    let block = try GAMBlock(prefix: "", config: fixture.config, weights: Weights(fixture.weightsFile))
    let x = try fixture.expected("x")
    let d = block.width
    var y = x
    var window = [Float](repeating: 0, count: block.windowRows * d)
    var scratch = [Float](repeating: 0, count: block.scratchCount(rows: x.count / d))
    var start = 0
    for rows in [1, 2, 7, 38] {
      y.withUnsafeMutableBufferPointer { yp in
        window.withUnsafeMutableBufferPointer { wp in
          scratch.withUnsafeMutableBufferPointer { sp in
            forward(block, yp.baseAddress! + start * d, rows: rows, window: wp.baseAddress!, scratch: sp.baseAddress!)
          }
        }
      }
      start += rows
    }
    XCTAssertEqual(start * d, x.count)
    assertClose(y, try fixture.expected("y"), .official, "gam-block y (calls of 1, 2, 7, 38 rows)")
  }
}
