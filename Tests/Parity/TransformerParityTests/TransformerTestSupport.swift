import CZooPlugin
import Foundation
import Logging
import XCTest
import ZooCore
import ZooPluginKit

@testable import ZooDaemon

// The transformer plugin is tested as zood runs it: its shared library is dlopened by
// ZooDaemon's PluginLoader and every call crosses the C ABI (zoo_model_api). Linking the
// plugin target into this test bundle instead would clash with StateSpace's
// zoo_plugin_init.

struct TestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

enum Locations {
  /// `libZooTransformer.so` in the build products directory next to this test bundle,
  /// or $ZOO_TRANSFORMER_PLUGIN.
  static func pluginLibrary() throws -> String {
    if let env = ProcessInfo.processInfo.environment["ZOO_TRANSFORMER_PLUGIN"], !env.isEmpty { return env }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
      let candidate = dir.appendingPathComponent("libZooTransformer.so")
      if FileManager.default.fileExists(atPath: candidate.path) { return candidate.path }
      dir.deleteLastPathComponent()
    }
    throw TestFailure(
      "libZooTransformer.so was not found above \(CommandLine.arguments[0]); build everything first (swift build --build-tests)")
  }

  /// The shared fixtures: $ZOO_FIXTURES, else the first `shared/fixtures` above this file.
  static func sharedFixtures(file: String = #filePath) throws -> URL {
    if let env = ProcessInfo.processInfo.environment["ZOO_FIXTURES"], !env.isEmpty { return URL(fileURLWithPath: env) }
    for start in [URL(fileURLWithPath: file), URL(fileURLWithPath: file).resolvingSymlinksInPath()] {
      var dir = start.deletingLastPathComponent()
      while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/fixtures")
        if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("README.md").path) { return candidate }
        dir.deleteLastPathComponent()
      }
    }
    throw TestFailure("the shared fixtures folder was not found: set ZOO_FIXTURES or place it at <package root>/../shared/fixtures")
  }

  /// This repository's Tests/Fixtures/<name> (committed fixtures).
  static func localFixture(_ name: String, file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/\(name)")
  }
}

/// The plugin, loaded once per test run (plugins are never unloaded).
enum TransformerPlugin {
  nonisolated(unsafe) private static var loaded: LoadedPlugin?

  static func plugin() throws -> LoadedPlugin {
    if let loaded { return loaded }
    let record = PluginLoader(logger: Logger(label: "transformer-tests")).load(path: try Locations.pluginLibrary())
    guard let plugin = record.plugin else {
      throw TestFailure("the transformer plugin did not load: \(record.error ?? "no reason")")
    }
    loaded = plugin
    return plugin
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

  /// A shared-fixture folder (config.json, weights.safetensors as model.safetensors),
  /// optionally with config keys overridden.
  convenience init(sharedFixture name: String, configOverrides: [String: Any] = [:]) throws {
    let folder = try Locations.sharedFixtures().appendingPathComponent(name)
    try self.init(
      files: ["config.json": try editedConfig(folder.appendingPathComponent("config.json"), configOverrides)],
      links: ["model.safetensors": folder.appendingPathComponent("weights.safetensors")])
  }

  /// A HF folder of this repository's Tests/Fixtures, optionally with config keys overridden.
  convenience init(localFixture name: String, configOverrides: [String: Any] = [:], extraFiles: [String] = []) throws {
    let folder = Locations.localFixture(name)
    var files = ["config.json": try editedConfig(folder.appendingPathComponent("config.json"), configOverrides)]
    for name in extraFiles { files[name] = try Data(contentsOf: folder.appendingPathComponent(name)) }
    try self.init(files: files, links: ["model.safetensors": folder.appendingPathComponent("model.safetensors")])
  }

  struct Outputs {
    var logits: [Float]
    var hidden: [Float]
  }

  /// One forward call through the C ABI.
  func run(
    _ tokens: [Int32], _ state: ModelHandle.State, positions: [Int64]? = nil, mask: MaskKind = .causal,
    blockSize: Int = 0, rows: [Int64]? = nil, logits wantLogits: Bool = true, hidden wantHidden: Bool = false,
    request: RequestContext? = nil
  ) throws -> Outputs {
    var logits = [Float](repeating: .nan, count: wantLogits ? (rows?.count ?? tokens.count) * info.vocabularySize : 0)
    var hidden = [Float](repeating: .nan, count: wantHidden ? tokens.count * info.hiddenSize : 0)
    try tokens.withUnsafeBufferPointer { t in
      try withOptional(positions) { p in
        try withOptional(rows) { r in
          try logits.withUnsafeMutableBufferPointer { l in
            try hidden.withUnsafeMutableBufferPointer { h in
              try handle.forward(
                t, state: state, positions: p, mask: mask, blockSize: blockSize, logitRows: r,
                logits: wantLogits ? l.baseAddress : nil, hidden: wantHidden ? h.baseAddress : nil,
                request: request?.opaque)
            }
          }
        }
      }
    }
    return Outputs(logits: logits, hidden: hidden)
  }

  /// A fresh state's outputs for `tokens` at 0..<n.
  func fresh(_ tokens: [Int32], mask: MaskKind = .causal, blockSize: Int = 0, hidden: Bool = false) throws -> Outputs {
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

/// config.json with keys replaced.
func editedConfig(_ url: URL, _ overrides: [String: Any]) throws -> Data {
  guard !overrides.isEmpty else { return try Data(contentsOf: url) }
  var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
  for (k, v) in overrides { object[k] = v }
  return try JSONSerialization.data(withJSONObject: object)
}

private func withOptional<T, R>(_ array: [T]?, _ body: (UnsafeBufferPointer<T>?) throws -> R) rethrows -> R {
  guard let array else { return try body(nil) }
  return try array.withUnsafeBufferPointer { try body($0) }
}

/// Tensors of a safetensors file by name.
struct TensorFile {
  let file: SafetensorsFile

  init(_ url: URL) throws { file = try SafetensorsFile(path: url.path) }

  func floats(_ name: String) throws -> [Float] {
    guard let v = file.tensors[name]?.floats() else { throw TestFailure("\(file.path) has no float tensor '\(name)'") }
    return v
  }

  func tokens(_ name: String) throws -> [Int32] {
    guard let v = file.tensors[name]?.int64s() else { throw TestFailure("\(file.path) has no int64 tensor '\(name)'") }
    return v.map { Int32($0) }
  }
}

/// Rows `range` of a row-major matrix of `width` columns.
func rows(_ values: [Float], width: Int, _ range: Range<Int>) -> [Float] {
  Array(values[range.lowerBound * width..<range.upperBound * width])
}

/// Largest |a[i] − b[i]|; infinity when the lengths differ or a value is NaN.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count, !a.isEmpty else { return .infinity }
  var worst: Float = 0
  for (x, y) in zip(a, b) {
    let d = abs(x - y)
    if d.isNaN { return .infinity }
    worst = max(worst, d)
  }
  return worst
}

/// Asserts `actual` agrees with `expected` within `tolerance` and prints the error.
func assertClose(
  _ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ what: String,
  file: StaticString = #filePath, line: UInt = #line
) {
  let error = maxAbsDifference(actual, expected)
  print("parity \(what): max abs error \(error) over \(expected.count) values")
  XCTAssertLessThan(error, tolerance, "\(what): max abs error \(error) (sizes \(actual.count), \(expected.count))", file: file, line: line)
}

/// Asserts two outputs are different somewhere by more than `margin` (so an equality
/// check elsewhere is not vacuous).
func assertDiffer(
  _ a: [Float], _ b: [Float], margin: Float = 1e-3, _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
  let d = maxAbsDifference(a, b)
  XCTAssertTrue(d > margin && d.isFinite, "\(what): expected a difference above \(margin), got \(d)", file: file, line: line)
}

/// Asserts `body` throws a PluginError with `code` whose message contains `fragments`.
func assertRefused(
  _ code: zoo_status, _ fragments: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line,
  _ body: () throws -> Void
) {
  do {
    try body()
    XCTFail("\(what): expected a refusal, but the call succeeded", file: file, line: line)
  } catch let error as PluginError {
    XCTAssertEqual(error.code, code, "\(what): wrong status for '\(error.message)'", file: file, line: line)
    for f in fragments {
      XCTAssertTrue(error.message.contains(f), "\(what): '\(error.message)' does not mention '\(f)'", file: file, line: line)
    }
  } catch {
    XCTFail("\(what): expected a PluginError, got \(error)", file: file, line: line)
  }
}
