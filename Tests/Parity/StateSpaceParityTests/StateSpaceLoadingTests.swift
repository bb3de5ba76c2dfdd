import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// Loading (missing and misshapen weights, tied and separate LM heads, config decoding)
/// and the forward contract (refused inputs, logit rows, hidden states, state copy,
/// truncate, cancellation) of the Mamba models.
final class StateSpaceLoadingTests: XCTestCase {
  typealias Loader = (ModelLoadContext) throws -> any Model
  private let loaders: [(fixture: String, load: Loader)] = [
    ("mamba-hf", { try MambaBuilder.load($0) }),
    ("mamba2-hf", { try Mamba2Builder.load($0) }),
  ]

  // MARK: Weights

  func testMissingWeightIsNamed() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let names = ["backbone.layers.1.mixer.out_proj.weight", "backbone.norm_f.weight", "backbone.embeddings.weight"]
      for missing in names {
        let checkpoint = try TemporaryCheckpoint(fixture.checkpointTensors().filter { $0.name != missing })
        assertPluginError(.notFound, containing: [missing], "\(name) without \(missing)") {
          _ = try load(fixture.context(weights: checkpoint.weights))
        }
      }
    }
  }

  func testWrongShapeIsRefused() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let target = "backbone.layers.0.mixer.A_log"
      let tensors = fixture.checkpointTensors().map { t in
        t.name == target ? (t.name, [t.values.count / 2, 2], t.values) : t
      }
      let checkpoint = try TemporaryCheckpoint(tensors)
      assertPluginError(.invalidArgument, containing: [target, "shape"], "\(name) with a misshapen A_log") {
        _ = try load(fixture.context(weights: checkpoint.weights))
      }
    }
  }

  func testLMHeadAbsentIsTiedToEmbeddings() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      XCTAssertFalse(fixture.modelFile.tensors.keys.contains("lm_head.weight"))
      let model = try load(fixture.context())
      let embeddings = fixture.modelFile.tensors["backbone.embeddings.weight"]!.floats()!
      let (logits, expected) = try logitsAndHeadProduct(model, head: embeddings, tokens: fixture.tokens)
      assertClose(logits, expected, .float64Reference, "\(name) tied head: logits = hidden · embeddingsᵀ")
    }
  }

  func testLMHeadPresentIsUsed() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let embeddingShape = fixture.modelFile.tensors["backbone.embeddings.weight"]!.shape
      var generator = SplitMix64(seed: 7)
      let head = (0..<embeddingShape[0] * embeddingShape[1]).map { _ in generator.nextFloat() - 0.5 }
      let checkpoint = try TemporaryCheckpoint(fixture.checkpointTensors() + [("lm_head.weight", embeddingShape, head)])
      // The model borrows the checkpoint's mapping: keep it alive until the end.
      defer { withExtendedLifetime(checkpoint) {} }
      let model = try load(fixture.context(weights: checkpoint.weights))
      let (logits, expected) = try logitsAndHeadProduct(model, head: head, tokens: fixture.tokens)
      assertClose(logits, expected, .float64Reference, "\(name) separate head: logits = hidden · lm_headᵀ")
      assertDiffer(logits, try fixture.expected("logits"), "\(name): lm_head was ignored")
      XCTAssertEqual(
        model.info.weightBytes,
        try load(fixture.context()).info.weightBytes + head.count * 4, "\(name): a separate head adds its bytes")
    }
  }

  /// The model's logits for `tokens`, and hidden · headᵀ computed here in float64 from
  /// the model's final-norm hidden states (so only the model's own head GEMM rounds).
  private func logitsAndHeadProduct(_ model: any Model, head: [Float], tokens: [Int32]) throws -> ([Float], [Float]) {
    let result = try runForward(model, state: try model.makeState(), tokens: tokens, wantHidden: true)
    let (v, d) = (model.info.vocabularySize, model.info.hiddenSize)
    var expected = [Float](repeating: 0, count: tokens.count * v)
    for t in 0..<tokens.count {
      for row in 0..<v {
        var sum = 0.0
        for j in 0..<d { sum += Double(result.hidden[t * d + j]) * Double(head[row * d + j]) }
        expected[t * v + row] = Float(sum)
      }
    }
    return (result.logits, expected)
  }

  func testHugePageCopiesGiveTheSameLogitsAsMappedWeights() throws {
    for name in ["mamba-hf", "mamba2-hf"] {
      let fixture = try HFFixture.named(name)
      let load = { (copy: Bool) -> StateSpaceLanguageModel in
        name == "mamba-hf"
          ? try MambaBuilder.load(fixture.context(), copyToHugePages: copy)
          : try Mamba2Builder.load(fixture.context(), copyToHugePages: copy)
      }
      let copied = try load(true)
      let mapped = try load(false)
      XCTAssertNotEqual(copied.lmHead.data, mapped.lmHead.data, "\(name): the head was not copied")
      XCTAssertEqual(copied.lmHead.data, copied.embeddings.data, "\(name): the tied head was copied twice")
      XCTAssertEqual(mapped.lmHead.data, mapped.embeddings.data)
      let a = try runForward(copied, state: try copied.makeState(), tokens: fixture.tokens).logits
      let b = try runForward(mapped, state: try mapped.makeState(), tokens: fixture.tokens).logits
      XCTAssertEqual(a, b, "\(name): copies must hold exactly the mapped values")
    }
  }

  // MARK: Config

  func testConfigDecodingReadsHuggingFaceForms() throws {
    let mamba2 = try JSONDecoder().decode(Mamba2Config.self, from: try HFFixture.named("mamba2-hf").configJSON)
    XCTAssertEqual(mamba2.timeStepLimit.map(\.value), [0, .infinity])
    XCTAssertEqual(mamba2.convDim, 160)
    XCTAssertEqual(mamba2.inProjSize, 296)
    XCTAssertTrue(mamba2.tieWordEmbeddings)

    let mamba = try JSONDecoder().decode(MambaConfig.self, from: try HFFixture.named("mamba-hf").configJSON)
    XCTAssertEqual(mamba.dtRank, 4)
    XCTAssertEqual(mamba.intermediateSize, 128)

    // Absent keys take transformers' defaults; "auto" rank is ceil(D / 16).
    let defaults = try JSONDecoder().decode(MambaConfig.self, from: Data(#"{"time_step_rank": "auto"}"#.utf8))
    XCTAssertEqual(defaults, MambaConfig())
    XCTAssertEqual(defaults.dtRank, 48)
    XCTAssertEqual(try JSONDecoder().decode(Mamba2Config.self, from: Data("{}".utf8)), Mamba2Config())

    // Round trip through the encoder, infinity included.
    let encoded = try JSONEncoder().encode(mamba2)
    XCTAssertTrue(String(decoding: encoded, as: UTF8.self).contains("__float__"))
    XCTAssertEqual(try JSONDecoder().decode(Mamba2Config.self, from: encoded), mamba2)
  }

  func testInconsistentConfigIsRefused() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    var object = try JSONSerialization.jsonObject(with: fixture.configJSON) as! [String: Any]
    object["num_heads"] = 7
    let json = try JSONSerialization.data(withJSONObject: object)
    assertPluginError(.invalidArgument, containing: ["num_heads"], "mamba2 with num_heads · head_dim ≠ d_inner") {
      _ = try Mamba2Builder.load(fixture.context(configJSON: json))
    }
    let wrongType = Data(#"{"hidden_size": "wide"}"#.utf8)
    assertPluginError(.invalidArgument, containing: ["hidden_size"], "mamba with a string hidden_size") {
      _ = try MambaBuilder.load(try HFFixture.named("mamba-hf").context(configJSON: wrongType))
    }
  }

  // MARK: Forward contract

  func testRefusedInputsLeaveTheStateUntouched() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let model = try load(fixture.context())
      let state = try model.makeState()
      _ = try runForward(model, state: state, tokens: Array(fixture.tokens[..<3]))
      let before = snapshot(state)
      let vocab = model.info.vocabularySize

      assertPluginError(.failedPrecondition, containing: ["causal"], "\(name) bidirectional mask") {
        _ = try runForward(model, state: state, tokens: [1, 2], mask: .bidirectional)
      }
      assertPluginError(.failedPrecondition, containing: ["causal"], "\(name) block-causal mask") {
        _ = try runForward(model, state: state, tokens: [1, 2], mask: .blockCausal)
      }
      assertPluginError(.invalidArgument, containing: ["position 0", "3..<5"], "\(name) positions restarting at 0") {
        _ = try runForward(model, state: state, tokens: [1, 2], positions: [0, 1])
      }
      assertPluginError(.invalidArgument, containing: ["position 5"], "\(name) positions with a gap") {
        _ = try runForward(model, state: state, tokens: [1, 2], positions: [3, 5])
      }
      let tooLarge = ["token id \(vocab)", "vocabulary of size \(vocab)"]
      assertPluginError(.invalidArgument, containing: tooLarge, "\(name) token too large") {
        _ = try runForward(model, state: state, tokens: [1, Int32(vocab)])
      }
      assertPluginError(.invalidArgument, containing: ["token id -1"], "\(name) negative token") {
        _ = try runForward(model, state: state, tokens: [-1])
      }
      assertPluginError(.invalidArgument, containing: ["logit row 2"], "\(name) logit row out of range") {
        _ = try runForward(model, state: state, tokens: [1, 2], logitRows: [2])
      }
      XCTAssertEqual(state.length, 3)
      XCTAssertEqual(snapshot(state), before, "\(name): a refused call changed the state")
    }
  }

  func testLogitRowsAndHiddenMatchTheFullForward() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let model = try load(fixture.context())
      let expected = try fixture.expected("logits")
      let v = model.info.vocabularySize
      let n = fixture.tokens.count
      // Out of order, repeated, and a consecutive run.
      let rows: [Int64] = [Int64(n - 1), 5, 6, 7, 5, 0]
      let result = try runForward(
        model, state: try model.makeState(), tokens: fixture.tokens, logitRows: rows, wantHidden: true)
      let wanted = rows.flatMap { expected[Int($0) * v..<(Int($0) + 1) * v] }
      assertClose(result.logits, wanted, .official, "\(name) logits of rows \(rows)")
      XCTAssertFalse(result.hidden.contains { $0.isNaN }, "\(name): hidden rows were not all written")

      // No logits at all: the state still advances as in a full call.
      let quiet = try model.makeState()
      _ = try runForward(model, state: quiet, tokens: Array(fixture.tokens[..<12]), wantLogits: false)
      let next = try runForward(model, state: quiet, tokens: Array(fixture.tokens[12...]), logitRows: [0])
      assertClose(next.logits, Array(expected[12 * v..<13 * v]), .official, "\(name) logits after a prefill without outputs")
    }
  }

  func testStateCopyIsIndependentAndTruncateIsRefused() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let model = try load(fixture.context())
      let expected = try fixture.expected("logits")
      let v = model.info.vocabularySize
      let tokens = fixture.tokens
      let original = try model.makeState()
      _ = try runForward(model, state: original, tokens: Array(tokens[..<10]))
      let copy = try original.copy()
      XCTAssertEqual(copy.length, 10)
      // Advance the original on a different token; the copy must not see it.
      _ = try runForward(model, state: original, tokens: [tokens[10] == 0 ? 1 : 0])
      let fromCopy = try runForward(model, state: copy, tokens: [tokens[10]])
      assertClose(fromCopy.logits, Array(expected[10 * v..<11 * v]), .official, "\(name) logits from a copied state")
      // A copy holds the original's bytes, so it continues exactly as the original would
      // have: the same operations in the same order as a state that was never copied.
      let uncopied = try model.makeState()
      _ = try runForward(model, state: uncopied, tokens: Array(tokens[..<10]))
      let fromUncopied = try runForward(model, state: uncopied, tokens: [tokens[10]])
      assertIdentical(fromCopy.logits, fromUncopied.logits, "\(name) a copy continued vs the state it copied")
      assertPluginError(.failedPrecondition, containing: ["recurrent"], "\(name) truncate") {
        try copy.truncate(to: 5)
      }
      XCTAssertTrue(model.info.stateIsFixed)
      let layout = (copy as! RecurrentState).layout
      XCTAssertEqual(model.info.stateBytes, layout.floatCount * 4)
    }
  }

  func testCancelledPrefillThrowsAndKeepsTheState() throws {
    for (name, load) in loaders {
      let fixture = try HFFixture.named(name)
      let model = try load(fixture.context())
      let state = try model.makeState()
      _ = try runForward(model, state: state, tokens: Array(fixture.tokens[..<4]))
      let before = snapshot(state)
      var polls = 0
      assertPluginError(.cancelled, containing: [], "\(name) cancelled prefill") {
        // Cancel after the first layer has run, so some state was already advanced.
        _ = try runForward(model, state: state, tokens: Array(fixture.tokens[4...])) {
          polls += 1
          return polls > 1
        }
      }
      XCTAssertGreaterThan(polls, 1)
      XCTAssertEqual(state.length, 4)
      XCTAssertEqual(snapshot(state), before, "\(name): a cancelled prefill left a half-advanced state")
    }
  }

  func testForeignStateIsRefused() throws {
    let mamba = try MambaBuilder.load(try HFFixture.named("mamba-hf").context())
    let mamba2 = try Mamba2Builder.load(try HFFixture.named("mamba2-hf").context())
    assertPluginError(.invalidArgument, containing: ["state"], "a mamba2 state given to mamba") {
      _ = try runForward(mamba, state: try mamba2.makeState(), tokens: [1])
    }
  }

  // MARK: Declarations

  func testDeclarationsAreTruthful() throws {
    for (builder, type, layer) in [
      (MambaBuilder.declaration, "mamba", "mamba1_mixer"), (Mamba2Builder.declaration, "mamba2", "mamba2_mixer"),
    ] {
      XCTAssertEqual(builder.modelType, type)
      XCTAssertEqual(builder.layers, [layer])
      XCTAssertTrue(StateSpaceLayers.kinds.contains { $0.name == layer })
      let caps = builder.capabilities
      XCTAssertEqual(caps.causality, .causal)
      XCTAssertTrue(caps.recurrentStep)
      XCTAssertEqual(caps.stateGrowth, .fixed)
      XCTAssertTrue(caps.stateCopy)
      XCTAssertFalse(caps.stateTruncate)
      XCTAssertFalse(caps.decodeCost.isEmpty)
      XCTAssertTrue(builder.weights.contains("backbone.layers.{i}.mixer.A_log"))
      XCTAssertTrue(builder.config.contains { $0.name == "hidden_size" && !$0.defaultJson.isEmpty })
    }
  }

  func testSafetensorsWriterRoundTrips() throws {
    var writer = SafetensorsWriter()
    try writer.add("a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
    try writer.add("scalar", shape: [], values: [42])
    try writer.add("odd \"name\"", shape: [1], values: [-1])
    writer.metadata = ["format": "pt"]
    XCTAssertThrowsError(try writer.add("a", shape: [1], values: [0]))
    XCTAssertThrowsError(try writer.add("b", shape: [2], values: [0]))
    XCTAssertEqual(writer.headerBytes().count % 8, 0)
    let checkpoint = try TemporaryCheckpoint(writer.entries.map { ($0.name, $0.shape, $0.values) })
    let file = checkpoint.file
    XCTAssertEqual(file.tensors["a"]?.shape, [2, 3])
    XCTAssertEqual(file.tensors["a"]?.floats(), [1, 2, 3, 4, 5, 6])
    XCTAssertEqual(file.tensors["scalar"]?.shape, [])
    XCTAssertEqual(file.tensors["scalar"]?.floats(), [42])
    XCTAssertEqual(file.tensors["odd \"name\""]?.floats(), [-1])
  }

  private func snapshot(_ state: any ModelState) -> [Float] {
    let s = state as! RecurrentState
    return Array(UnsafeBufferPointer(start: s.storage, count: s.layout.floatCount))
  }
}
