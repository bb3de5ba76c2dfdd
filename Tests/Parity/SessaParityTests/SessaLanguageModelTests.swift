import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooProto
import ZooTestSupport

@testable import Sessa

/// A small random-weight `sessa` language model written with SafetensorsWriter under
/// the names the README documents (`layers.{i}.` + the official SessaLayer names).
struct RandomSessaModel {
  var config: SessaConfig
  /// Store lm_head.weight (else the head is the tied embedding).
  var separateHead = true
  /// Store each layer's mixer.rope_inv_freq buffer (else it is computed).
  var ropeBuffers = true

  /// Uniform values of the given standard deviation from a fixed xorshift stream.
  private struct Stream {
    var state: UInt64
    mutating func next(_ std: Float) -> Float {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      let unit = Float(state >> 40) / Float(1 << 24)  // [0, 1)
      return (2 * unit - 1) * std * Float(3).squareRoot()
    }
    mutating func values(_ count: Int, std: Float, mean: Float = 0) -> [Float] {
      (0..<count).map { _ in mean + next(std) }
    }
  }

  func tensors(seed: UInt64 = 0x5e55a) -> [(name: String, shape: [Int], values: [Float])] {
    var r = Stream(state: seed)
    let layer = config.layer
    let (v, d, kv, inner) = (config.vocabSize, config.hiddenSize, layer.kvWidth, config.intermediateSize)
    var out: [(name: String, shape: [Int], values: [Float])] = []
    func add(_ name: String, _ shape: [Int], std: Float, mean: Float = 0) {
      out.append((name, shape, r.values(shape.reduce(1, *), std: std, mean: mean)))
    }
    func linear(_ name: String, _ outFeatures: Int, _ inFeatures: Int, bias: Bool = true) {
      add(name + ".weight", [outFeatures, inFeatures], std: 1 / Float(inFeatures).squareRoot())
      if bias { add(name + ".bias", [outFeatures], std: 0.1) }
    }
    add("embedding.weight", [v, d], std: 1)
    for i in 0..<config.numHiddenLayers {
      let p = "layers.\(i)."
      add(p + "ln.weight", [d], std: 0.2, mean: 1)
      add(p + "ln.bias", [d], std: 0.1)
      linear(p + "W_in", 2 * d, d)
      linear(p + "mixer.q_proj", d, d)
      linear(p + "mixer.k_proj", kv, d)
      linear(p + "mixer.v_proj", kv, d)
      linear(p + "mixer.proj_fb", 2 * d, d)
      if layer.heads > 1 { linear(p + "mixer.out_proj", d, d, bias: false) }
      add(p + "mixer.gamma_bias", [], std: 0.3, mean: 1)
      linear(p + "mixer.gamma_ctx", 1, d, bias: false)
      if ropeBuffers && layer.useForwardRoPE {
        let half = layer.headDim / 2
        let frequencies = (0..<half).map { Float(pow(10000, -2 * Double($0) / Double(2 * half))) }
        out.append((p + "mixer.rope_inv_freq", [half], frequencies))
      }
      linear(p + "W_out", d, d)
      if inner > 0 {
        add("mlps.\(i).norm.weight", [d], std: 0.2, mean: 1)
        add("mlps.\(i).norm.bias", [d], std: 0.1)
        linear("mlps.\(i).fc1", inner, d)
        linear("mlps.\(i).fc2", d, inner)
      }
    }
    add("norm.weight", [d], std: 0.2, mean: 1)
    add("norm.bias", [d], std: 0.1)
    if separateHead { linear("lm_head", v, d, bias: false) }
    return out
  }

  /// Writes the checkpoint and loads it with `prefillChunkRows`; the checkpoint must
  /// outlive the model.
  func load(prefillChunkRows: Int = 256) throws -> (SessaLanguageModel, TemporaryCheckpoint) {
    let checkpoint = try TemporaryCheckpoint(tensors())
    return (try SessaBuilder.load(context(checkpoint.weights), prefillChunkRows: prefillChunkRows), checkpoint)
  }

  func context(_ weights: Weights, configJSON: Data? = nil) throws -> ModelLoadContext {
    ModelLoadContext(
      modelType: "sessa", configJSON: try configJSON ?? JSONEncoder().encode(config), folder: "/nonexistent",
      weights: weights)
  }
}

/// The `sessa` language model: prefill + decode against the full forward, chunked
/// prefill, batched decode steps, state copy and truncate against fresh runs, replaced positions, refusals,
/// loading errors, and the manifest.
final class SessaLanguageModelTests: XCTestCase {
  /// GQA with MLP blocks and a separate head; one head (no out_proj), no RoPE, no MLP,
  /// tied head.
  private let variants: [(name: String, model: RandomSessaModel)] = {
    var gqa = SessaConfig(vocabSize: 61, hiddenSize: 32, numHiddenLayers: 3)
    gqa.numAttentionHeads = 4
    gqa.numKeyValueHeads = 2
    gqa.intermediateSize = 48
    var single = SessaConfig(vocabSize: 61, hiddenSize: 24, numHiddenLayers: 2)
    single.useForwardRoPE = false
    single.gammaMax = 0.9
    single.tieWordEmbeddings = true
    var tied = RandomSessaModel(config: single)
    tied.separateHead = false
    var computedFrequencies = RandomSessaModel(config: gqa)
    computedFrequencies.ropeBuffers = false
    return [
      ("gqa+mlp", RandomSessaModel(config: gqa)), ("1 head, no rope, tied", tied),
      ("gqa, computed rope", computedFrequencies),
    ]
  }()

  private let tokens: [Int32] = (0..<40).map { Int32(($0 * 37 + 11) % 61) }

  private func freshLogits(_ model: SessaLanguageModel, _ tokens: [Int32]) throws -> [Float] {
    try runForward(model, state: try model.makeState(), tokens: tokens).logits
  }

  private func rows(_ logits: [Float], _ range: Range<Int>, vocab: Int = 61) -> [Float] {
    Array(logits[range.lowerBound * vocab..<range.upperBound * vocab])
  }

  func testPrefillAndDecodeEqualTheFullForward() throws {
    for (name, random) in variants {
      let (model, checkpoint) = try random.load()
      let full = try runForward(model, state: try model.makeState(), tokens: tokens, wantHidden: true)

      let state = try model.makeState()
      var stepped = try runForward(model, state: state, tokens: Array(tokens[..<17])).logits
      for token in tokens[17...] {
        stepped += try runForward(model, state: state, tokens: [token]).logits
      }
      XCTAssertEqual(state.length, 40)
      assertClose(stepped, full.logits, .reordered, "\(name): prefill 17 + decode 23 vs full forward")

      let (chunked, chunkedCheckpoint) = try random.load(prefillChunkRows: 6)
      let inChunks = try runForward(chunked, state: try chunked.makeState(), tokens: tokens, wantHidden: true)
      assertClose(inChunks.logits, full.logits, .reordered, "\(name): prefill in chunks of 6 vs one chunk")
      assertClose(inChunks.hidden, full.hidden, .reordered, "\(name): hidden states in chunks of 6 vs one chunk")
      withExtendedLifetime((checkpoint, chunkedCheckpoint)) {}
    }
  }

  /// A batched decode step (forward_batch) against stepping each sequence alone, for
  /// every variant: a fresh sequence (its row 0 has no feedback) beside longer ones.
  func testBatchedStepEqualsSteppingEachAlone() throws {
    for (name, random) in variants {
      let (model, checkpoint) = try random.load()
      try assertBatchedStepsMatchSteppingAlone(model, tokens: tokens, lengths: [0, 3, 17], steps: 3, name)
      withExtendedLifetime(checkpoint) {}
    }
  }

  func testCopyAndTruncateMatchFreshRuns() throws {
    for (name, random) in variants {
      let (model, checkpoint) = try random.load()
      let prefix = Array(tokens[..<12])
      let (a, b) = (Array(tokens[12..<20]), Array(tokens[30..<38]))
      let expectedA = rows(try freshLogits(model, prefix + a), 12..<20)
      let expectedB = rows(try freshLogits(model, prefix + b), 12..<20)

      let original = try model.makeState()
      _ = try runForward(model, state: original, tokens: prefix)
      let copy = try original.copy()
      XCTAssertEqual(copy.length, 12)
      assertClose(try runForward(model, state: original, tokens: a).logits, expectedA, .reordered, "\(name): original + A")
      // The copy is independent of what the original did afterwards; decode it token by token.
      var copied: [Float] = []
      for token in b { copied += try runForward(model, state: copy, tokens: [token]).logits }
      assertClose(copied, expectedB, .reordered, "\(name): copy + B, one token at a time")
      // The copy holds the original's rows: it continues exactly as a state never copied.
      let uncopied = try model.makeState()
      _ = try runForward(model, state: uncopied, tokens: prefix)
      var fromUncopied: [Float] = []
      for token in b { fromUncopied += try runForward(model, state: uncopied, tokens: [token]).logits }
      assertIdentical(copied, fromUncopied, "\(name): copy + B vs a state never copied")

      // Truncate the original (prefix + A) back to the prefix, twice over.
      try original.truncate(to: 12)
      XCTAssertEqual(original.length, 12)
      let truncatedB = try runForward(model, state: original, tokens: b).logits
      assertClose(truncatedB, expectedB, .reordered, "\(name): truncated + B")
      // Truncating keeps the prefix's rows as they were: the same as a state that only
      // ever saw the prefix.
      let prefixOnly = try model.makeState()
      _ = try runForward(model, state: prefixOnly, tokens: prefix)
      assertIdentical(
        truncatedB, try runForward(model, state: prefixOnly, tokens: b).logits, "\(name): truncated + B vs prefix + B")
      try original.truncate(to: 12)
      assertClose(try runForward(model, state: original, tokens: a).logits, expectedA, .reordered, "\(name): truncated again + A")
      withExtendedLifetime(checkpoint) {}
    }
  }

  /// Positions start..<length may be given again when the call reaches the end: the
  /// state then holds the new tokens there, as a fresh run would.
  func testReplacingTrailingPositions() throws {
    let (model, checkpoint) = try variants[0].model.load()
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(tokens[..<20]))
    let replacement = Array(tokens[25..<33])
    let replaced = try runForward(model, state: state, tokens: replacement, positions: (15..<23).map(Int64.init))
    XCTAssertEqual(state.length, 23)
    let expected = try freshLogits(model, Array(tokens[..<15]) + replacement)
    assertClose(replaced.logits, rows(expected, 15..<23), .reordered, "positions 15..<23 replaced in a 20-token state")
    withExtendedLifetime(checkpoint) {}
  }

  func testRefusalsLeaveTheStateUnchanged() throws {
    let (model, checkpoint) = try variants[0].model.load()
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(tokens[..<10]))
    let refused: [(String, PluginErrorKind, [String], () throws -> Void)] = [
      ("bidirectional mask", .failedPrecondition, ["causal"], {
        _ = try runForward(model, state: state, tokens: [1, 2], mask: .bidirectional)
      }),
      ("token out of vocabulary", .invalidArgument, ["61"], {
        _ = try runForward(model, state: state, tokens: [1, 61])
      }),
      ("a hole", .invalidArgument, ["hole"], {
        _ = try runForward(model, state: state, tokens: [1], positions: [11])
      }),
      ("non-consecutive positions", .invalidArgument, ["consecutive"], {
        _ = try runForward(model, state: state, tokens: [1, 2], positions: [10, 12])
      }),
      ("replacing a middle position", .failedPrecondition, ["truncate"], {
        _ = try runForward(model, state: state, tokens: [1, 2], positions: [4, 5])
      }),
      ("logit row outside the call", .invalidArgument, ["logit row"], {
        _ = try runForward(model, state: state, tokens: [1, 2], logitRows: [2])
      }),
      ("a cancelled prefill", .cancelled, [], {
        _ = try runForward(model, state: state, tokens: [1, 2, 3], isCancelled: { true })
      }),
      ("another model's state", .invalidArgument, ["not made by this model"], {
        let other = SessaState(layout: SessaCacheLayout(layers: 1, kvWidth: 16, width: 32))
        _ = try runForward(model, state: other, tokens: [1])
      }),
    ]
    for (what, code, fragments, call) in refused {
      assertPluginError(code, containing: fragments, what, call)
      XCTAssertEqual(state.length, 10, what)
    }
    let continued = try runForward(model, state: state, tokens: Array(tokens[10..<14]))
    let untouched = try model.makeState()
    _ = try runForward(model, state: untouched, tokens: Array(tokens[..<10]))
    let expected = try runForward(model, state: untouched, tokens: Array(tokens[10..<14]))
    assertIdentical(continued.logits, expected.logits, "after refusals vs a state that saw none")
    withExtendedLifetime(checkpoint) {}
  }

  func testLogitRowsAndTiedHead() throws {
    let (model, checkpoint) = try variants[1].model.load()
    let full = try freshLogits(model, tokens)
    let picked = try runForward(model, state: try model.makeState(), tokens: tokens, logitRows: [39, 3, 4, 5, 0])
    // Not bit for bit: the head's GEMM has 5 rows here and 40 there, and OpenBLAS rounds
    // a row differently by the call's row count (`Tolerance.reordered`).
    let expected = [39, 3, 4, 5, 0].flatMap { rows(full, $0..<$0 + 1) }
    assertClose(picked.logits, expected, .reordered, "logit rows 39, 3, 4, 5, 0")

    // The tied model equals one storing its embedding as lm_head.weight.
    var tensors = variants[1].model.tensors()
    tensors.append(("lm_head.weight", [61, 24], tensors.first { $0.name == "embedding.weight" }!.values))
    let explicit = try TemporaryCheckpoint(tensors)
    let untied = try SessaBuilder.load(try variants[1].model.context(explicit.weights), prefillChunkRows: 256)
    assertIdentical(try freshLogits(untied, tokens), full, "lm_head.weight = embedding vs tied")
    withExtendedLifetime(checkpoint) {}
  }

  func testLoadingErrorsNameTheKeyOrWeight() throws {
    let random = variants[0].model
    let all = random.tensors()
    let names = ["layers.2.mixer.gamma_bias", "layers.1.W_out.bias", "mlps.0.fc2.weight", "norm.bias", "embedding.weight"]
    for missing in names {
      let checkpoint = try TemporaryCheckpoint(all.filter { $0.name != missing })
      assertPluginError(.notFound, containing: [missing], "without \(missing)") {
        _ = try SessaBuilder.load(try random.context(checkpoint.weights))
      }
    }
    let checkpoint = try TemporaryCheckpoint(all)
    let base = #""vocab_size": 61, "hidden_size": 32, "num_hidden_layers": 3"#
    for (json, key) in [
      ("{\(base), \"num_attention_heads\": 3}", "num_attention_heads"),
      ("{\(base), \"num_attention_heads\": 4, \"num_key_value_heads\": 3}", "num_key_value_heads"),
      ("{\(base), \"gamma_max\": 1.0}", "gamma_max"),
      (#"{"vocab_size": 61, "num_hidden_layers": 3}"#, "hidden_size"),
      ("{\(base), \"num_attention_heads\": 4, \"num_key_value_heads\": 2}", "intermediate_size"),
    ] {
      assertPluginError(.invalidArgument, containing: [key], key) {
        _ = try SessaBuilder.load(try random.context(checkpoint.weights, configJSON: Data(json.utf8)))
      }
    }
  }

  func testInfoAndManifest() throws {
    let (model, checkpoint) = try variants[0].model.load()
    // 3 layers × (k_f, v_f: 2 KV heads × 8; k_b, s: 32) floats per token.
    XCTAssertEqual(model.info.stateBytes, 3 * (2 * 16 + 2 * 32) * 4)
    XCTAssertFalse(model.info.stateIsFixed)
    XCTAssertEqual(model.info.maskKinds, [.causal])
    withExtendedLifetime(checkpoint) {}

    let manifest = sessaPlugin.manifest
    XCTAssertFalse((try manifest.serializedBytes() as [UInt8]).isEmpty)
    XCTAssertEqual(manifest.layers.map(\.name), ["sessa_layer"])
    XCTAssertEqual(manifest.modelTypes.map(\.modelType), ["sessa"])
    for capabilities in [manifest.layers[0].capabilities, manifest.modelTypes[0].capabilities] {
      XCTAssertEqual(capabilities.causality, .causal)
      XCTAssertEqual(capabilities.stateGrowth, .perToken)
      XCTAssertFalse(capabilities.recurrentStep)
      XCTAssertTrue(capabilities.stateCopy && capabilities.stateTruncate)
    }
    let fields = Dictionary(uniqueKeysWithValues: manifest.modelTypes[0].config.map { ($0.name, $0) })
    XCTAssertEqual(fields["gamma_max"]?.defaultJson, "0.999")
    XCTAssertEqual(fields["intermediate_size"]?.defaultJson, "0")
    XCTAssertTrue(fields["hidden_size"]?.required ?? false)
    XCTAssertTrue(manifest.modelTypes[0].weights.contains("layers.{i}.mixer.gamma_bias"))
  }
}
