import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooProto
import ZooTestSupport

@testable import GAM

/// What the gam model promises beyond parity: the BLOCK_SIZE limit refused (not clamped)
/// with the state left usable, state copy and truncate, refused inputs, cancellation,
/// config.json under the official names, and a truthful manifest.
final class GAMContractTests: XCTestCase {
  private func fixtureModel(chunk: Int = 256) throws -> (GAMFixture, GAMLanguageModel) {
    let fixture = try GAMFixture.named("gam")
    return (fixture, try GAMBuilder.load(fixture.context(), prefillChunkRows: chunk))
  }

  private func windows(_ state: any ModelState) -> [Float] {
    let s = state as! GAMState
    return Array(UnsafeBufferPointer(start: s.storage, count: s.floatCount))
  }

  /// The fixture's tokens, then more ids (seeded) up to `count`.
  private func tokens(_ fixture: GAMFixture, count: Int) -> [Int32] {
    var ids = fixture.tokens
    var seed: UInt32 = 12345
    while ids.count < count {
      seed = seed &* 1_664_525 &+ 1_013_904_223
      ids.append(Int32(seed >> 24))
    }
    return Array(ids.prefix(count))
  }

  // MARK: BLOCK_SIZE

  func testPositionBeyondTheTableIsRefusedAndTheStateStaysUsable() throws {
    let (fixture, model) = try fixtureModel()
    let limit = try fixture.config.blockSize
    XCTAssertEqual(limit, 64)
    XCTAssertEqual(model.info.maxPositions, limit)
    let ids = tokens(fixture, count: limit + 1)
    // Reference: the same calls on a state that saw no refusals.
    let untouched = try model.makeState()
    _ = try runForward(model, state: untouched, tokens: Array(ids[..<60]))
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(ids[..<60]))
    let before = windows(state)
    for (what, call) in [("5 tokens at 60", Array(ids[60..<65])), ("65 tokens", Array(ids[..<65]))] {
      assertPluginError(.outOfRange, containing: ["64", "BLOCK_SIZE", "clamp"], "forward of \(what)") {
        _ = try runForward(model, state: state, tokens: call)
      }
      XCTAssertEqual(state.length, 60, "a refused forward (\(what)) must not advance the state")
      XCTAssertEqual(windows(state), before, "a refused forward (\(what)) must not touch the windows")
    }
    // The state goes on as if nothing had been refused, up to the last position.
    let rest = try runForward(model, state: state, tokens: Array(ids[60..<63])).logits
      + runForward(model, state: state, tokens: [ids[63]]).logits
    let expected = try runForward(model, state: untouched, tokens: Array(ids[60..<63])).logits
      + runForward(model, state: untouched, tokens: [ids[63]]).logits
    assertIdentical(rest, expected, "positions 60..<64 after the refusals vs with none")
    // And those last positions of the table agree with the 64 positions in one call.
    let whole = try runForward(model, state: try model.makeState(), tokens: Array(ids[..<limit])).logits
    assertClose(rest, Array(whole[(60 * model.info.vocabularySize)...]), .reordered, "positions 60..<64 vs one call")
    XCTAssertEqual(state.length, limit)
    assertPluginError(.outOfRange, containing: ["position 64", "BLOCK_SIZE = 64"], "decode at position 64") {
      _ = try runForward(model, state: state, tokens: [ids[64]])
    }
    XCTAssertEqual(state.length, limit)
    // A fresh state refuses 65 tokens at once as well.
    assertPluginError(.outOfRange, containing: ["position 64"], "65 tokens from empty") {
      _ = try runForward(model, state: try model.makeState(), tokens: ids)
    }
  }

  // MARK: Copy and truncate

  func testCopiedStateIsIndependent() throws {
    let (fixture, model) = try fixtureModel()
    let ids = fixture.tokens
    let expected = try fixture.expected("logits")
    let v = model.info.vocabularySize
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(ids[..<20]))
    let copy = try state.copy()
    XCTAssertEqual(copy.length, 20)
    // Move the original elsewhere; the copy must still continue the fixture's sequence.
    _ = try runForward(model, state: state, tokens: [7, 8, 9])
    let continued = try runForward(model, state: copy, tokens: Array(ids[20...])).logits
    assertClose(continued, Array(expected[(20 * v)...]), .official, "copy at 20, continued to 48")
    // The copy holds the original's bytes: it continues exactly as a state never copied.
    let uncopied = try model.makeState()
    _ = try runForward(model, state: uncopied, tokens: Array(ids[..<20]))
    assertIdentical(
      continued, try runForward(model, state: uncopied, tokens: Array(ids[20...])).logits,
      "copy at 20 vs a state never copied")
    XCTAssertEqual(state.length, 23)
  }

  func testTruncateOnlyToZeroOrTheCurrentLength() throws {
    let (fixture, model) = try fixtureModel()
    let ids = fixture.tokens
    let expected = try fixture.expected("logits")
    let v = model.info.vocabularySize
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(ids[..<30]))
    let before = windows(state)
    assertPluginError(.failedPrecondition, containing: ["k − 1", "30", "20"], "truncate 30 → 20") {
      try state.truncate(to: 20)
    }
    XCTAssertEqual(state.length, 30)
    XCTAssertEqual(windows(state), before)
    try state.truncate(to: 30)
    let rest = try runForward(model, state: state, tokens: Array(ids[30...])).logits
    assertClose(rest, Array(expected[(30 * v)...]), .official, "after refused and no-op truncates")
    try state.truncate(to: 0)
    XCTAssertEqual(state.length, 0)
    let again = try runForward(model, state: state, tokens: ids).logits
    assertClose(again, expected, .official, "after truncate to 0")
  }

  // MARK: Refused inputs and cancellation

  func testRefusedInputsLeaveTheStateUnchanged() throws {
    let (fixture, model) = try fixtureModel()
    let ids = fixture.tokens
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(ids[..<10]))
    let before = windows(state)
    assertPluginError(.failedPrecondition, containing: ["causal"], "bidirectional mask") {
      _ = try runForward(model, state: state, tokens: [1, 2], mask: .bidirectional)
    }
    assertPluginError(.invalidArgument, containing: ["position 9", "10..<12"], "positions that revisit") {
      _ = try runForward(model, state: state, tokens: [1, 2], positions: [9, 10])
    }
    assertPluginError(.invalidArgument, containing: ["token id 256", "256"], "token outside the vocabulary") {
      _ = try runForward(model, state: state, tokens: [1, 256])
    }
    assertPluginError(.invalidArgument, containing: ["logit row 2"], "logit row outside the call") {
      _ = try runForward(model, state: state, tokens: [1, 2], logitRows: [2])
    }
    XCTAssertEqual(state.length, 10)
    XCTAssertEqual(windows(state), before)
    // Explicit positions that do continue the sequence are accepted.
    let rest = try runForward(
      model, state: state, tokens: Array(ids[10...]), positions: (10..<48).map { Int64($0) }).logits
    assertClose(rest, Array(try fixture.expected("logits")[(10 * 256)...]), .official, "explicit positions 10..<48")
  }

  func testCancelledPrefillRestoresTheState() throws {
    let (fixture, model) = try fixtureModel(chunk: 8)
    let ids = fixture.tokens
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(ids[..<12]))
    let before = windows(state)
    // Cancelled before the second chunk's first layer: the first chunk has already moved
    // both layers' windows.
    var polls = 0
    assertPluginError(.cancelled, containing: [], "cancelled prefill") {
      _ = try runForward(model, state: state, tokens: Array(ids[12...])) {
        polls += 1
        return polls > 2
      }
    }
    XCTAssertEqual(state.length, 12)
    XCTAssertEqual(windows(state), before)
    let rest = try runForward(model, state: state, tokens: Array(ids[12...])).logits
    assertClose(rest, Array(try fixture.expected("logits")[(12 * 256)...]), .official, "after a cancelled prefill")
  }

  // MARK: config.json and weights

  func testConfigUsesTheOfficialNamesAndDefaults() throws {
    let fixture = try GAMFixture.named("gam")
    let config = try fixture.config
    XCTAssertEqual(
      [config.vocabSize, config.blockSize, config.embeddingSize, config.layerCount, config.memorySlots,
       config.convKernelSize], [256, 64, 64, 2, 32, 3])
    XCTAssertEqual(config.dropout, 0.1)
    // Absent keys take ModelConfig's defaults (gam_model.py).
    let defaults = try fixture.context(configJSON: Data(#"{"model_type": "gam"}"#.utf8)).config(GAMConfig.self)
    XCTAssertEqual(defaults, GAMConfig())
    XCTAssertEqual(
      [defaults.vocabSize, defaults.blockSize, defaults.embeddingSize, defaults.layerCount, defaults.memorySlots,
       defaults.convKernelSize], [10000, 256, 512, 6, 512, 3])
    // Encoding writes the same keys back, with model_type.
    let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
    let official = try JSONSerialization.jsonObject(with: fixture.configJSON) as! [String: Any]
    XCTAssertEqual(Set(encoded.keys), Set(official.keys).union(["model_type"]))
    XCTAssertEqual(encoded["model_type"] as? String, "gam")
    // The manifest declares exactly the official keys.
    XCTAssertEqual(Set(GAMBuilder.declaration.config.map(\.name)), Set(official.keys))
  }

  func testBadConfigsAndCheckpointsAreRefusedByName() throws {
    let fixture = try GAMFixture.named("gam")
    assertPluginError(.invalidArgument, containing: ["N_LAYER", "0"], "N_LAYER 0") {
      _ = try GAMBuilder.load(fixture.context(configJSON: Data(#"{"N_LAYER": 0}"#.utf8)))
    }
    assertPluginError(.invalidArgument, containing: ["N_EMBED"], "N_EMBED as a string") {
      _ = try GAMBuilder.load(fixture.context(configJSON: Data(#"{"N_EMBED": "64"}"#.utf8)))
    }
    // A config that does not match the checkpoint: the first mismatched weight is named.
    var wrong = try JSONSerialization.jsonObject(with: fixture.configJSON) as! [String: Any]
    wrong["NUM_MEMORY_SLOTS"] = 16
    assertPluginError(.invalidArgument, containing: ["blocks.0.memory_bank", "[32, 64]", "[16, 64]"], "slots") {
      _ = try GAMBuilder.load(fixture.context(configJSON: try JSONSerialization.data(withJSONObject: wrong)))
    }
    let noConv = try TemporaryCheckpoint(fixture.checkpointTensors().filter { $0.name != "blocks.1.causal_conv.bias" })
    assertPluginError(.notFound, containing: ["blocks.1.causal_conv.bias"], "missing weight") {
      _ = try GAMBuilder.load(fixture.context(weights: noConv.weights))
    }
    let noHead = try TemporaryCheckpoint(
      fixture.checkpointTensors().filter { !["head.weight", "token_embedding.weight"].contains($0.name) })
    assertPluginError(.notFound, containing: ["token_embedding.weight", "head.weight"], "no embedding") {
      _ = try GAMBuilder.load(fixture.context(weights: noHead.weights))
    }
  }

  // MARK: Manifest and info

  func testManifestAndInfoStateTheTruth() throws {
    let (fixture, model) = try fixtureModel()
    let manifest = GAMPlugin.definition.manifest
    XCTAssertEqual(manifest.name, "gam")
    XCTAssertEqual(manifest.layers.map(\.name), ["gam_block"])
    XCTAssertEqual(manifest.modelTypes.map(\.modelType), ["gam"])
    let type = manifest.modelTypes[0]
    XCTAssertEqual(type.layers, ["gam_block"])
    for capabilities in [type.capabilities, manifest.layers[0].capabilities] {
      XCTAssertEqual(capabilities.causality, .causal)
      XCTAssertTrue(capabilities.recurrentStep)
      XCTAssertEqual(capabilities.stateGrowth, .fixed)
      XCTAssertTrue(capabilities.stateCopy)
      XCTAssertFalse(capabilities.stateTruncate)
      XCTAssertFalse(capabilities.decodeCost.isEmpty)
    }
    for field in type.config + manifest.layers[0].config {
      XCTAssertFalse(field.required)
      XCTAssertFalse(field.defaultJson.isEmpty, "\(field.name) has no default")
    }
    // Every declared weight pattern names a tensor of the official state_dict.
    let stored = Set(fixture.weightsFile.names)
    let expanded = Set(
      type.weights.flatMap { pattern in
        pattern.contains("{i}") ? (0..<2).map { pattern.replacingOccurrences(of: "{i}", with: "\($0)") } : [pattern]
      })
    XCTAssertEqual(expanded, stored)
    // Fixed state: 2 layers × (k − 1 = 2) rows × 64 floats.
    XCTAssertTrue(model.info.stateIsFixed)
    XCTAssertEqual(model.info.stateBytes, 2 * 2 * 64 * 4)
    XCTAssertEqual((try model.makeState() as! GAMState).floatCount * 4, model.info.stateBytes)
    XCTAssertEqual(model.info.maskKinds, [.causal])
    // Every stored tensor is read: with both keys present the embedding and the head are
    // taken from their own copies.
    let storedBytes = fixture.checkpointTensors().reduce(0) { $0 + $1.values.count * 4 }
    XCTAssertEqual(model.info.weightBytes, storedBytes)
  }
}
