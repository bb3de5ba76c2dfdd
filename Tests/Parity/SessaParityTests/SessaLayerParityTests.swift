import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Sessa

/// The Sessa layer against the official LibratioAI/sessa SessaLayer (fixture `sessa`:
/// D 64, 4 heads, 2 KV heads, 32 tokens), with the fixture's weights loaded by their
/// official names.
final class SessaLayerParityTests: XCTestCase {
  /// Runs x [T, D] through `layer` in calls of `calls` rows (summing to T), each at the
  /// state's current length as the official prefill and decode_step do. Returns y and
  /// the state (whose cache started empty and grew as needed).
  private func run(_ layer: SessaLayer, _ x: [Float], calls: [Int]) -> (y: [Float], state: SessaState) {
    let d = layer.config.width
    let state = SessaState(layout: layer.cacheLayout)
    var y = x
    y.withUnsafeMutableBufferPointer { buffer in
      for n in calls {
        let start = state.length
        state.reserve(start + n)
        let scratch = state.scratch(layer.scratchCount(rows: n, keys: start + n))
        layer.forward(buffer.baseAddress! + start * d, rows: n, start: start, cache: state.layer(0), scratch: scratch)
        state.length = start + n
      }
    }
    XCTAssertEqual(state.length * d, x.count)
    return (y, state)
  }

  /// s rows 0..<length left in the state's cache.
  private func cachedOutputs(_ state: SessaState, width: Int) -> [Float] {
    Array(UnsafeBufferPointer(start: state.layer(0).outputs, count: state.length * width))
  }

  func testFixtureConfigDecodesWithOfficialNames() throws {
    let config = try SessaFixture.load().config
    XCTAssertEqual(config.width, 64)
    XCTAssertEqual(config.heads, 4)
    XCTAssertEqual(config.kvHeadCount, 2)
    XCTAssertEqual(config.headDim, 16)
    XCTAssertEqual(config.maxLength, 64)
    XCTAssertEqual(config.gammaMax, 0.999)
    XCTAssertTrue(config.useForwardRoPE)
  }

  func testFullForward() throws {
    let fixture = try SessaFixture.load()
    let (y, _) = run(try fixture.layer(), try fixture.tensor("x"), calls: [32])
    assertClose(y, try fixture.tensor("y_forward"), .official, "sessa forward (32 tokens, one triangular solve)")
  }

  func testPrefill16Decode16() throws {
    let fixture = try SessaFixture.load()
    let (y, state) = run(try fixture.layer(), try fixture.tensor("x"), calls: [16] + Array(repeating: 1, count: 16))
    assertClose(y, try fixture.tensor("y_prefill16_decode16"), .official, "sessa prefill 16 + decode 16")
    // The official comparison of the fixture README: the s rows the cache holds after
    // prefill + decode against the mixer's parallel output.
    assertClose(
      cachedOutputs(state, width: 64), try fixture.tensor("mixer_s"), .official, "sessa cached s after prefill 16 + decode 16")
  }

  func testDecodeAll() throws {
    let fixture = try SessaFixture.load()
    let (y, _) = run(try fixture.layer(), try fixture.tensor("x"), calls: Array(repeating: 1, count: 32))
    assertClose(y, try fixture.tensor("y_decode_all"), .official, "sessa decode all 32 from an empty cache")
  }

  /// Multi-row calls over a non-empty cache (no official path does this): each call's
  /// system is split into the cached part (GEMM) and a triangular block (strsm).
  func testUnevenChunksOverTheCache() throws {
    let fixture = try SessaFixture.load()
    let (y, _) = run(try fixture.layer(), try fixture.tensor("x"), calls: [5, 11, 1, 2, 13])
    assertClose(y, try fixture.tensor("y_forward"), .official, "sessa in calls of 5, 11, 1, 2, 13 tokens")
  }

  func testMixerInputAndOutput() throws {
    let fixture = try SessaFixture.load()
    let layer = try fixture.layer()
    let barA = try fixture.tensor("mixer_bar_a")
    let expected = try fixture.tensor("mixer_s")
    for calls in [[32], [16, 16], [3, 1, 28]] {
      let state = SessaState(layout: layer.cacheLayout)
      state.reserve(32)
      barA.withUnsafeBufferPointer { input in
        for n in calls {
          let start = state.length
          layer.mixer.forward(
            input.baseAddress! + start * 64, lda: 64, rows: n, start: start, cache: state.layer(0),
            scratch: state.scratch(layer.mixer.scratchCount(rows: n, keys: start + n)))
          state.length = start + n
        }
      }
      assertClose(cachedOutputs(state, width: 64), expected, .official, "sessa mixer s from ā, calls \(calls)")
    }
  }

  /// Without the persistent `mixer.rope_inv_freq` buffer in the checkpoint, the
  /// frequencies come from its definition, 10000^(−2i/d).
  func testRoPEFrequenciesWithoutTheBuffer() throws {
    let fixture = try SessaFixture.load()
    let tensors = fixture.weightsFile.names.filter { $0 != "mixer.rope_inv_freq" }.map { name in
      let t = fixture.weightsFile.tensors[name]!
      return (name: name, shape: t.shape, values: t.floats()!)
    }
    let checkpoint = try TemporaryCheckpoint(tensors)
    let layer = try SessaLayer(prefix: "", config: fixture.config, weights: checkpoint.weights)
    let (y, _) = run(layer, try fixture.tensor("x"), calls: [32])
    assertClose(y, try fixture.tensor("y_forward"), .official, "sessa forward with computed RoPE frequencies")
  }

  func testMissingAndMisshapenWeightsAreNamed() throws {
    let fixture = try SessaFixture.load()
    let all = fixture.weightsFile.names.map { name in
      let t = fixture.weightsFile.tensors[name]!
      return (name: name, shape: t.shape, values: t.floats()!)
    }
    for missing in ["mixer.gamma_bias", "mixer.out_proj.weight", "W_in.bias", "ln.weight"] {
      let checkpoint = try TemporaryCheckpoint(all.filter { $0.name != missing })
      assertPluginError(.notFound, containing: [missing], "layer without \(missing)") {
        _ = try SessaLayer(prefix: "", config: fixture.config, weights: checkpoint.weights)
      }
    }
    // gamma_bias is a 0-dim tensor in the official state_dict; shape [1] is not it.
    let reshaped = all.map { $0.name == "mixer.gamma_bias" ? (name: $0.name, shape: [1], values: $0.values) : $0 }
    let checkpoint = try TemporaryCheckpoint(reshaped)
    assertPluginError(.invalidArgument, containing: ["mixer.gamma_bias", "shape"], "gamma_bias of shape [1]") {
      _ = try SessaLayer(prefix: "", config: fixture.config, weights: checkpoint.weights)
    }
  }
}
