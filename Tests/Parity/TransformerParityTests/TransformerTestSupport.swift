import Foundation
import Logging
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import ZooDaemon

// The transformer plugin is tested as zood runs it: its shared library is dlopened by
// ZooDaemon's PluginLoader and every call crosses the C ABI (zoo_model_api). Linking the
// plugin target into this test bundle instead would clash with StateSpace's
// zoo_plugin_init.

/// The plugin, loaded once per test run (plugins are never unloaded).
enum TransformerPlugin {
  nonisolated(unsafe) private static var loaded: LoadedPlugin?

  static func plugin() throws -> LoadedPlugin {
    if let loaded { return loaded }
    let record = PluginLoader(logger: Logger(label: "transformer-tests")).load(path: try library())
    guard let plugin = record.plugin else {
      throw FixtureError("the transformer plugin did not load: \(record.error ?? "no reason")")
    }
    loaded = plugin
    return plugin
  }

  /// `libZooTransformer.so` in the build products directory next to this test bundle,
  /// or $ZOO_TRANSFORMER_PLUGIN.
  static func library() throws -> String {
    if let env = ProcessInfo.processInfo.environment["ZOO_TRANSFORMER_PLUGIN"], !env.isEmpty { return env }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
      let candidate = dir.appendingPathComponent("libZooTransformer.so")
      if FileManager.default.fileExists(atPath: candidate.path) { return candidate.path }
      dir.deleteLastPathComponent()
    }
    throw FixtureError(
      "libZooTransformer.so was not found above \(CommandLine.arguments[0]); build everything first (swift build --build-tests)")
  }
}

/// A model loaded through zood's own path (ModelFolder → LoadedModel → the plugin's load).
final class TestModel {
  let loaded: LoadedModel
  var handle: ModelHandle { loaded.handle }
  var info: ModelInfo { handle.info }

  /// Builds a temporary model folder from `files` (name → contents) and `links` (name →
  /// existing file, symlinked), loads it, and removes the folder (the weights stay mapped).
  init(files: [String: Data], links: [String: URL]) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-transformer-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    for (name, data) in files {
      let url = folder.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try data.write(to: url)
    }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, target) in links {
      try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: target)
    }
    loaded = try LoadedModel(
      folder: ModelFolder(path: folder.path), plugin: try TransformerPlugin.plugin(), parallel: 1, maxQueue: 1,
      keepAlive: .zero)
  }

  /// A fixture folder loaded as a model: its config.json (optionally with keys
  /// overridden) and its weights, `model.safetensors` as Hugging Face saves them or an
  /// official state_dict's `weights.safetensors`, plus `extraFiles` copied as they are.
  convenience init(fixture name: String, configOverrides: [String: Any] = [:], extraFiles: [String] = []) throws {
    let folder = try FixtureLocation.folder(name)
    var files = ["config.json": try editedConfig(folder.appendingPathComponent("config.json"), configOverrides)]
    for name in extraFiles { files[name] = try Data(contentsOf: folder.appendingPathComponent(name)) }
    let hfWeights = folder.appendingPathComponent("model.safetensors")
    let weights =
      FileManager.default.fileExists(atPath: hfWeights.path) ? hfWeights : folder.appendingPathComponent("weights.safetensors")
    try self.init(files: files, links: ["model.safetensors": weights])
  }

  /// One forward call through the C ABI.
  func run(
    _ tokens: [Int32], _ state: ModelHandle.State, positions: [Int64]? = nil, mask: MaskKind = .causal,
    blockSize: Int = 0, keys: [Int64]? = nil, rows: [Int64]? = nil, logits wantLogits: Bool = true,
    hidden wantHidden: Bool = false, request: RequestContext? = nil
  ) throws -> ForwardResult {
    var logits = [Float](repeating: .nan, count: wantLogits ? (rows?.count ?? tokens.count) * info.vocabularySize : 0)
    var hidden = [Float](repeating: .nan, count: wantHidden ? tokens.count * info.hiddenSize : 0)
    try tokens.withUnsafeBufferPointer { t in
      try withOptionalBuffer(positions) { p in
        try withOptionalBuffer(keys) { k in
          try withOptionalBuffer(rows) { r in
            try logits.withUnsafeMutableBufferPointer { l in
              try hidden.withUnsafeMutableBufferPointer { h in
                try handle.forward(
                  t, state: state, positions: p, mask: mask, blockSize: blockSize, keyPositions: k, logitRows: r,
                  logits: wantLogits ? l.baseAddress : nil, hidden: wantHidden ? h.baseAddress : nil,
                  request: request?.opaque)
              }
            }
          }
        }
      }
    }
    return ForwardResult(logits: logits, hidden: hidden)
  }

  /// A fresh state's outputs for `tokens` at 0..<n.
  func fresh(_ tokens: [Int32], mask: MaskKind = .causal, blockSize: Int = 0, hidden: Bool = false) throws -> ForwardResult {
    try run(tokens, try handle.makeState(), mask: mask, blockSize: blockSize, logits: !hidden, hidden: hidden)
  }

  /// Sentence embeddings of the sequences, packed into one batch.
  func embed(_ sequences: [[Int32]]) throws -> [[Float]] {
    let size = info.embeddingSize
    var out = [Float](repeating: .nan, count: sequences.count * size)
    let tokens = sequences.flatMap { $0 }
    let lengths = sequences.map { Int64($0.count) }
    try tokens.withUnsafeBufferPointer { t in
      try lengths.withUnsafeBufferPointer { l in
        try out.withUnsafeMutableBufferPointer { try handle.embed(t, lengths: l, into: $0.baseAddress!) }
      }
    }
    return (0..<sequences.count).map { Array(out[$0 * size..<($0 + 1) * size]) }
  }
}

/// A causal Hugging Face fixture (config.json, model.safetensors, expected.safetensors
/// with input_ids, logits and hidden): the whole input in one call (logits and final
/// hidden states), then token by token against the cache.
func checkCausalFixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
  let model = try TestModel(fixture: name)
  let io = try TensorFile(try FixtureLocation.folder(name).appendingPathComponent("expected.safetensors"))
  let ids = try io.tokens("input_ids")
  let expectedLogits = try io.floats("logits")
  let full = try model.run(ids, try model.handle.makeState(), hidden: true)
  assertClose(full.logits, expectedLogits, .official, "\(name) full forward logits", file: file, line: line)
  assertClose(full.hidden, try io.floats("hidden"), .official, "\(name) final hidden states", file: file, line: line)

  let state = try model.handle.makeState()
  var stepped: [Float] = []
  for token in ids { stepped += try model.run([token], state).logits }
  assertClose(stepped, expectedLogits, .official, "\(name) token-by-token logits", file: file, line: line)
}

/// config.json with keys replaced.
func editedConfig(_ url: URL, _ overrides: [String: Any]) throws -> Data {
  guard !overrides.isEmpty else { return try Data(contentsOf: url) }
  var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
  for (k, v) in overrides { object[k] = v }
  return try JSONSerialization.data(withJSONObject: object)
}
