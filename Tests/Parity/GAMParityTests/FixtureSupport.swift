import Foundation
import XCTest
import ZooCore
import ZooPluginKit

@testable import GAM

/// Where the shared fixtures live: $ZOO_FIXTURES, else the first `shared/fixtures` found
/// walking up from this file (symlinks resolved), i.e. `<package root>/../shared/fixtures`
/// for /work/main and for side packages that link its test folder.
enum FixtureLocation {
  static func root(file: String = #filePath) throws -> URL {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment["ZOO_FIXTURES"], !env.isEmpty {
      guard fm.fileExists(atPath: env) else {
        throw FixtureError("ZOO_FIXTURES is set to '\(env)', which does not exist")
      }
      return URL(fileURLWithPath: env)
    }
    let here = URL(fileURLWithPath: file)
    var searched: [String] = []
    for start in [here, here.resolvingSymlinksInPath()] {
      var dir = start.deletingLastPathComponent()
      while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/fixtures")
        searched.append(candidate.path)
        if fm.fileExists(atPath: candidate.appendingPathComponent("README.md").path) { return candidate }
        dir = dir.deletingLastPathComponent()
      }
    }
    throw FixtureError(
      "the shared fixtures folder was not found: set ZOO_FIXTURES or place it at <package root>/../shared/fixtures (searched \(searched.joined(separator: ", ")))"
    )
  }
}

struct FixtureError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// One official-code fixture folder (gam, gam-block): config.json with the official
/// argument names, weights.safetensors (the state_dict, mapped) and io.safetensors.
///
/// `Weights` only borrows the mapping, so fixtures are cached for the whole test run.
final class GAMFixture: @unchecked Sendable {
  let folder: URL
  let configJSON: Data
  let weightsFile: SafetensorsFile
  let io: SafetensorsFile

  nonisolated(unsafe) private static var cache: [String: GAMFixture] = [:]

  static func named(_ name: String) throws -> GAMFixture {
    if let cached = cache[name] { return cached }
    let fixture = try GAMFixture(name)
    cache[name] = fixture
    return fixture
  }

  private init(_ name: String) throws {
    folder = try FixtureLocation.root().appendingPathComponent(name)
    configJSON = try Data(contentsOf: folder.appendingPathComponent("config.json"))
    weightsFile = try SafetensorsFile(path: folder.appendingPathComponent("weights.safetensors").path)
    io = try SafetensorsFile(path: folder.appendingPathComponent("io.safetensors").path)
  }

  var config: GAMConfig { get throws { try context().config(GAMConfig.self) } }

  /// The fixture's config.json carries no model_type (it is the official constructor's
  /// arguments); the builder is chosen by "gam" as a model folder's config.json would.
  func context(weights: Weights? = nil, configJSON override: Data? = nil) -> ModelLoadContext {
    ModelLoadContext(
      modelType: "gam", configJSON: override ?? configJSON, folder: folder.path,
      weights: weights ?? Weights(weightsFile))
  }

  var tokens: [Int32] { io.tensors["input_ids"]!.int64s()!.map { Int32($0) } }

  func expected(_ name: String) throws -> [Float] {
    guard let values = io.tensors[name]?.floats() else {
      throw FixtureError("io.safetensors in \(folder.lastPathComponent) has no float tensor '\(name)'")
    }
    return values
  }

  /// The state_dict's tensors, by name, as float32 arrays with their shapes.
  func checkpointTensors() -> [(name: String, shape: [Int], values: [Float])] {
    weightsFile.names.map { name in
      let t = weightsFile.tensors[name]!
      return (name, t.shape, t.floats()!)
    }
  }
}

/// A checkpoint written to a temporary file, mapped, and kept alive with its Weights.
final class TemporaryCheckpoint {
  let path: String
  let file: SafetensorsFile
  var weights: Weights { Weights(file) }

  init(_ tensors: [(name: String, shape: [Int], values: [Float])]) throws {
    var writer = SafetensorsWriter()
    for t in tensors { try writer.add(t.name, shape: t.shape, values: t.values) }
    path = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-gam-\(UUID().uuidString).safetensors").path
    try writer.write(to: path)
    file = try SafetensorsFile(path: path)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Outputs of one forward call.
struct ForwardResult {
  var logits: [Float]
  var hidden: [Float]
}

/// Runs one forward call with Swift arrays.
func runForward(
  _ model: any Model, state: any ModelState, tokens: [Int32], logitRows: [Int64]? = nil,
  positions: [Int64]? = nil, mask: MaskKind = .causal, wantHidden: Bool = false,
  isCancelled: @escaping () -> Bool = { false }
) throws -> ForwardResult {
  let vocab = model.info.vocabularySize
  var logits = [Float](repeating: .nan, count: (logitRows?.count ?? tokens.count) * vocab)
  var hidden = [Float](repeating: .nan, count: wantHidden ? tokens.count * model.info.hiddenSize : 0)
  try tokens.withUnsafeBufferPointer { tokenBuffer in
    try withOptionalBuffer(logitRows) { rowBuffer in
      try withOptionalBuffer(positions) { positionBuffer in
        try logits.withUnsafeMutableBufferPointer { logitBuffer in
          try hidden.withUnsafeMutableBufferPointer { hiddenBuffer in
            let input = ForwardInput(
              tokens: tokenBuffer, positions: positionBuffer, mask: mask, logitRows: rowBuffer,
              isCancelled: isCancelled)
            try model.forward(
              input, state: state,
              output: ForwardOutput(logits: logitBuffer.baseAddress, hidden: wantHidden ? hiddenBuffer.baseAddress : nil))
          }
        }
      }
    }
  }
  return ForwardResult(logits: logits, hidden: hidden)
}

private func withOptionalBuffer<T, R>(_ array: [T]?, _ body: (UnsafeBufferPointer<T>?) throws -> R) rethrows -> R {
  guard let array else { return try body(nil) }
  return try array.withUnsafeBufferPointer { try body($0) }
}

/// Largest |a[i] − b[i]|; infinity when the lengths differ or a value is NaN.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count else { return .infinity }
  var worst: Float = 0
  for (x, y) in zip(a, b) {
    let d = abs(x - y)
    if d.isNaN { return .infinity }
    worst = max(worst, d)
  }
  return worst
}

/// Asserts two float arrays agree within `tolerance` and prints the error for the record.
func assertClose(
  _ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ what: String,
  file: StaticString = #filePath, line: UInt = #line
) {
  let error = maxAbsDifference(actual, expected)
  print("parity \(what): max abs error \(error) over \(expected.count) values")
  XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
  XCTAssertLessThan(error, tolerance, "\(what): max abs error \(error) exceeds \(tolerance)", file: file, line: line)
}

/// Asserts that `body` throws a PluginError with status `code` whose message contains
/// every fragment.
func assertPluginError(
  _ code: PluginError, containing fragments: [String], _ what: String,
  file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) {
  do {
    try body()
    XCTFail("\(what): expected an error, but the call succeeded", file: file, line: line)
  } catch let error as PluginError {
    XCTAssertEqual(error.code, code.code, "\(what): wrong status for '\(error.message)'", file: file, line: line)
    for fragment in fragments {
      XCTAssertTrue(
        error.message.contains(fragment), "\(what): message '\(error.message)' does not mention '\(fragment)'",
        file: file, line: line)
    }
  } catch {
    XCTFail("\(what): expected a PluginError, got \(error)", file: file, line: line)
  }
}
