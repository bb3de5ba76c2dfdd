import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooProto
import ZooTestSupport

@testable import Orchid

/// The `orchid` causal language model: two blocks whose mixers carry the fixture's
/// official operator weights (the second scaled), random embedding, norms and MLPs.
final class OrchidLanguageModelTests: XCTestCase {
  static let vocab = 96, d = 32, inner = 64, layers = 2

  static let configJSON = """
    {"model_type": "orchid", "vocab_size": 96, "n_layer": 2, "d_inner": 64, "d_model": 32, "l_max": 64,
     "filter_order": 64, "short_filter_order": 3, "order": 2, "residual_long_conv": "sconv", "emb_dim": 9,
     "num_inner_mlps": 2, "w": 1, "dxt": "fft",
     "conv_kernel": {"type": "absfreq", "nn": "convtf", "conv_filter_size": 3, "padding_mode": "zeros",
                     "norm": "layernorm", "n_layer": 1, "activation": "gelu", "actq": "id", "wd": null, "lr": null,
                     "bias": true}}
    """

  /// The checkpoint's tensors; `head` adds a separate lm_head.weight, `drop` leaves names out.
  static func tensors(head: Bool = false, drop: Set<String> = []) throws -> [(name: String, shape: [Int], values: [Float])] {
    let fixture = try OrchidFixture.load()
    var generator = NormalGenerator(seed: 21)
    var out: [(name: String, shape: [Int], values: [Float])] = [
      ("embedding.weight", [vocab, d], generator.values(vocab * d))
    ]
    for i in 0..<layers {
      let p = "layers.\(i)."
      out.append((p + "norm1.weight", [d], generator.values(d, scale: 0.1, offset: 1)))
      out.append((p + "norm1.bias", [d], generator.values(d, scale: 0.1)))
      for name in fixture.weightNames {
        // The second block's projections are scaled so the blocks differ.
        let factor: Float = i == 1 && name.hasSuffix("_linear.weight") ? 0.8 : 1
        out.append((p + "mixer." + name, fixture.weightsFile.tensors[name]!.shape, fixture.weight(name).map { $0 * factor }))
      }
      out.append((p + "norm2.weight", [d], generator.values(d, scale: 0.1, offset: 1)))
      out.append((p + "norm2.bias", [d], generator.values(d, scale: 0.1)))
      out.append((p + "mlp.fc1.weight", [inner, d], generator.values(inner * d, scale: 1 / Float(d).squareRoot())))
      out.append((p + "mlp.fc1.bias", [inner], generator.values(inner, scale: 0.1)))
      out.append((p + "mlp.fc2.weight", [d, inner], generator.values(d * inner, scale: 1 / Float(inner).squareRoot())))
      out.append((p + "mlp.fc2.bias", [d], generator.values(d, scale: 0.1)))
    }
    out.append(("norm_f.weight", [d], generator.values(d, scale: 0.1, offset: 1)))
    out.append(("norm_f.bias", [d], generator.values(d, scale: 0.1)))
    if head { out.append(("lm_head.weight", [vocab, d], generator.values(vocab * d))) }
    return out.filter { !drop.contains($0.name) }
  }

  nonisolated(unsafe) static var checkpoints: [TemporaryCheckpoint] = []

  /// Loads a model from a temporary checkpoint (kept alive for the whole run).
  static func model(
    head: Bool = false, drop: Set<String> = [], config: String = configJSON
  ) throws -> OrchidLanguageModel {
    let checkpoint = try TemporaryCheckpoint(tensors(head: head, drop: drop))
    checkpoints.append(checkpoint)
    let context = ModelLoadContext(
      modelType: "orchid", configJSON: Data(config.utf8), folder: "/nonexistent", weights: checkpoint.weights)
    return try OrchidLMBuilder.load(context) as! OrchidLanguageModel
  }

  static func tokens(_ count: Int, seed: UInt64) -> [Int32] {
    var generator = NormalGenerator(seed: seed)
    return (0..<count).map { _ in Int32(abs(generator.next() * 1000).truncatingRemainder(dividingBy: Float(vocab))) }
  }

  /// The whole model in float64 from its definition, on the checkpoint's tensors.
  func reference(_ tokens: [Int32], head: Bool = false) throws -> [Float] {
    let named = Dictionary(uniqueKeysWithValues: try Self.tensors(head: head).map { ($0.name, $0.values) })
    let config = try JSONDecoder().decode(OrchidLMConfig.self, from: Data(Self.configJSON.utf8))
    let w = { (name: String) in named[name]!.map(Double.init) }
    let d = Self.d
    let embedding = w("embedding.weight")
    var h = tokens.map { Array(embedding[(Int($0) * d)..<((Int($0) + 1) * d)]) }
    for i in 0..<Self.layers {
      let p = "layers.\(i)."
      let mixer = CausalOrchidReference(config: config.mixer, prefix: p + "mixer.") { named[$0]! }
      let mixed = mixer.run(h.map { CausalOrchidReference.layerNorm($0, w(p + "norm1.weight"), w(p + "norm1.bias")) })
      h = zip(h, mixed).map { zip($0, $1).map { $0 + $1 } }
      let normed = h.map { CausalOrchidReference.layerNorm($0, w(p + "norm2.weight"), w(p + "norm2.bias")) }
      let hidden = CausalOrchidReference.linear(normed, w(p + "mlp.fc1.weight"), w(p + "mlp.fc1.bias"), outputs: Self.inner)
        .map { $0.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }
      let mlp = CausalOrchidReference.linear(hidden, w(p + "mlp.fc2.weight"), w(p + "mlp.fc2.bias"), outputs: d)
      h = zip(h, mlp).map { zip($0, $1).map { $0 + $1 } }
    }
    let final = h.map { CausalOrchidReference.layerNorm($0, w("norm_f.weight"), w("norm_f.bias")) }
    let logits = CausalOrchidReference.linear(final, w(head ? "lm_head.weight" : "embedding.weight"), nil, outputs: Self.vocab)
    return logits.flatMap { $0.map(Float.init) }
  }

  // MARK: Numerics

  func testMatchesFloat64Definition() throws {
    for head in [false, true] {
      let model = try Self.model(head: head)
      let tokens = Self.tokens(40, seed: 1)
      let logits = try runForward(model, state: model.makeState(), tokens: tokens).logits
      assertClose(logits, try reference(tokens, head: head), .float64Reference, "LM logits vs float64 definition (\(head ? "separate" : "tied") head)")
    }
  }

  func testPrefillThenDecodeEqualsFullForward() throws {
    let model = try Self.model()
    let tokens = Self.tokens(64, seed: 2)
    let full = try runForward(model, state: model.makeState(), tokens: tokens, wantHidden: true)
    let state = try model.makeState()
    var logits: [Float] = []
    var hidden: [Float] = []
    let prefill = try runForward(model, state: state, tokens: Array(tokens[..<24]), wantHidden: true)
    logits += prefill.logits
    hidden += prefill.hidden
    for token in tokens[24...] {
      let step = try runForward(model, state: state, tokens: [token], wantHidden: true)
      logits += step.logits
      hidden += step.hidden
    }
    XCTAssertEqual(state.length, 64)
    assertClose(logits, full.logits, .reordered, "LM prefill 24 + decode 40 vs full forward (logits)")
    assertClose(hidden, full.hidden, .reordered, "LM prefill 24 + decode 40 vs full forward (hidden)")
  }

  /// Changing the tokens after position t leaves the logits of positions 0...t unchanged
  /// (up to rounding: the operator's FFTs mix the future in, and it cancels exactly only
  /// in exact arithmetic) and changes the later ones.
  func testCausality() throws {
    let model = try Self.model()
    let tokens = Self.tokens(64, seed: 3)
    let base = try runForward(model, state: model.makeState(), tokens: tokens).logits
    let v = Self.vocab
    for t in [0, 9, 31, 62] {
      var changed = tokens
      for i in (t + 1)..<64 { changed[i] = (changed[i] + 1 + Int32(i % 7)) % Int32(v) }
      let logits = try runForward(model, state: model.makeState(), tokens: changed).logits
      assertClose(
        Array(logits[..<((t + 1) * v)]), Array(base[..<((t + 1) * v)]), .reordered,
        "LM logits ≤ \(t) after the tokens after \(t) changed")
      assertDiffer(Array(logits[((t + 1) * v)...]), Array(base[((t + 1) * v)...]), "LM logits after \(t)")
    }
  }

  func testLogitRows() throws {
    let model = try Self.model()
    let tokens = Self.tokens(12, seed: 4)
    let full = try runForward(model, state: model.makeState(), tokens: tokens).logits
    let some = try runForward(model, state: model.makeState(), tokens: tokens, logitRows: [11, 3]).logits
    let v = Self.vocab
    // Not bit for bit: the head's GEMM has 2 rows here and 12 there, and OpenBLAS rounds
    // a row differently by the call's row count (`Tolerance.reordered`).
    assertClose(some, Array(full[(11 * v)..<(12 * v)]) + Array(full[(3 * v)..<(4 * v)]), .reordered, "LM logit rows [11, 3]")
  }

  // MARK: State

  func testStateCopyContinuesIdenticallyAndTruncateIsRefused() throws {
    let model = try Self.model()
    let tokens = Self.tokens(30, seed: 5)
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(tokens[..<20]))
    let copy = try state.copy()
    XCTAssertEqual(copy.length, 20)
    let a = try runForward(model, state: state, tokens: Array(tokens[20...])).logits
    let b = try runForward(model, state: copy, tokens: Array(tokens[20...])).logits
    assertIdentical(b, a, "LM: a copy continued vs the original continued")
    assertPluginError(.failedPrecondition, containing: ["truncated"], "truncate") { try state.truncate(to: 5) }
  }

  func testCancelledPrefillLeavesStateUnchanged() throws {
    let model = try Self.model()
    let tokens = Self.tokens(20, seed: 6)
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Array(tokens[..<10]))
    assertPluginError(.cancelled, containing: [], "cancelled prefill") {
      _ = try runForward(model, state: state, tokens: Array(tokens[10...]), isCancelled: { true })
    }
    XCTAssertEqual(state.length, 10)
    let resumed = try runForward(model, state: state, tokens: Array(tokens[10...])).logits
    let untouched = try model.makeState()
    _ = try runForward(model, state: untouched, tokens: Array(tokens[..<10]))
    assertIdentical(
      resumed, try runForward(model, state: untouched, tokens: Array(tokens[10...])).logits,
      "LM: resumed after a cancelled prefill vs never cancelled")
    let full = try runForward(model, state: model.makeState(), tokens: tokens).logits
    assertClose(resumed, Array(full[(10 * Self.vocab)...]), .reordered, "LM: resumed after a cancelled prefill vs one call")
  }

  // MARK: Refusals

  func testRefusesWhatACausalModelCannotDo() throws {
    let model = try Self.model()
    let state = try model.makeState()
    _ = try runForward(model, state: state, tokens: Self.tokens(60, seed: 7))
    assertPluginError(.failedPrecondition, containing: ["causal", "bidirectional"], "bidirectional mask") {
      _ = try runForward(model, state: state, tokens: [1], mask: .bidirectional)
    }
    assertPluginError(.failedPrecondition, containing: ["causal"], "block-causal mask") {
      _ = try runForward(model, state: state, tokens: [1], mask: .blockCausal)
    }
    assertPluginError(.invalidArgument, containing: ["position 3", "60..<61"], "rewinding positions") {
      _ = try runForward(model, state: state, tokens: [1], positions: [3])
    }
    assertPluginError(.outOfRange, containing: ["l_max = 64", "65"], "past l_max") {
      _ = try runForward(model, state: state, tokens: [1, 2, 3, 4, 5])
    }
    assertPluginError(.invalidArgument, containing: ["token id 96"], "token outside the vocabulary") {
      _ = try runForward(model, state: state, tokens: [96])
    }
    XCTAssertEqual(state.length, 60, "refusals must leave the state as it was")
    _ = try runForward(model, state: state, tokens: [1, 2, 3, 4])
    XCTAssertEqual(state.length, 64)
  }

  func testConfigAndWeightRefusals() throws {
    func config(_ edit: (inout [String: Any]) -> Void) -> String {
      var object = try! JSONSerialization.jsonObject(with: Data(Self.configJSON.utf8)) as! [String: Any]
      edit(&object)
      return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
    let cases: [(String, (inout [String: Any]) -> Void, [String])] = [
      ("dct transform", { $0["dxt"] = "dctxd-o" }, ["dxt", "fft"]),
      ("order 3", { $0["order"] = 3 }, ["order"]),
      ("Type II conditioning", { $0["conv_kernel"] = ["type": "corrTime"] }, ["conv_kernel.type", "absfreq"]),
      ("even conditioning taps", { $0["conv_kernel"] = ["conv_filter_size": 4] }, ["conv_filter_size", "odd"]),
      ("even emb_dim", { $0["emb_dim"] = 8 }, ["emb_dim"]),
      ("no d_model", { $0["d_model"] = nil }, ["d_model"]),
    ]
    for (what, edit, fragments) in cases {
      assertPluginError(.invalidArgument, containing: fragments, what) { _ = try Self.model(config: config(edit)) }
    }
    assertPluginError(.notFound, containing: ["layers.1.mixer.conv_kernel_nn.nn_model2.conv1d_ls.0.bias"], "missing weight") {
      _ = try Self.model(drop: ["layers.1.mixer.conv_kernel_nn.nn_model2.conv1d_ls.0.bias"])
    }
  }

  /// The implicit filters' Sin modules share one `freq`; a checkpoint that kept only one
  /// of its keys computes the same.
  func testSharedSinFrequencyStoredOnce() throws {
    let tokens = Self.tokens(16, seed: 8)
    let all = try Self.model()
    var dropped: Set<String> = []
    for i in 0..<Self.layers {
      for f in ["fixed_conv", "fixed_conv_res"] {
        for s in [3, 5] { dropped.insert("layers.\(i).mixer.\(f).implicit_filter.\(s).freq") }
      }
    }
    let once = try Self.model(drop: dropped)
    XCTAssertEqual(
      try runForward(once, state: once.makeState(), tokens: tokens).logits,
      try runForward(all, state: all.makeState(), tokens: tokens).logits)
  }

  // MARK: Declaration

  func testInfoAndManifestStateTheTruth() throws {
    let model = try Self.model()
    let info = model.info
    XCTAssertEqual(info.maxPositions, 64)
    XCTAssertEqual(info.maskKinds, [.causal])
    XCTAssertTrue(info.stateIsFixed)
    // Per layer: 3·(3D) short history + 3·D conditioning history + 3 DFTs of 65 bins × D complex.
    XCTAssertEqual(info.stateBytes, Self.layers * (3 * 96 + 3 * 32 + 3 * 2 * 65 * 32) * 4)

    let manifest = orchidPlugin.manifest
    XCTAssertEqual(manifest.name, "orchid")
    let kinds = Dictionary(uniqueKeysWithValues: manifest.layers.map { ($0.name, $0.capabilities) })
    XCTAssertEqual(kinds["orchid_operator"]?.causality, .bidirectional)
    XCTAssertEqual(kinds["orchid_operator"]?.recurrentStep, false)
    XCTAssertEqual(kinds["orchid_operator"]?.stateGrowth, Zoo_V1_StateGrowth.none)
    XCTAssertEqual(kinds["orchid_causal_operator"]?.causality, .causal)
    XCTAssertEqual(kinds["orchid_causal_operator"]?.recurrentStep, true)
    XCTAssertEqual(kinds["orchid_causal_operator"]?.stateGrowth, .fixed)
    let type = try XCTUnwrap(manifest.modelTypes.first)
    XCTAssertEqual(type.modelType, "orchid")
    XCTAssertEqual(type.layers, ["orchid_causal_operator"])
    XCTAssertEqual(type.capabilities.causality, .causal)
    XCTAssertEqual(type.capabilities.stateGrowth, .fixed)
    XCTAssertTrue(type.capabilities.stateCopy)
    XCTAssertFalse(type.capabilities.stateTruncate)
    XCTAssertFalse(type.capabilities.decodeCost.isEmpty)
    XCTAssertTrue(type.weights.contains("layers.{i}.mixer.in_linear.weight"))
    // Every key the builder reads is declared with its default.
    let declared = Set(type.config.map(\.name))
    for key in ["vocab_size", "n_layer", "d_inner", "d_model", "l_max", "filter_order", "conv_kernel.conv_filter_size"] {
      XCTAssertTrue(declared.contains(key), "config key \(key) is not declared")
    }
  }
}
