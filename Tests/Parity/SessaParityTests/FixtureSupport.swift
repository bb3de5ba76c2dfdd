import Foundation
import XCTest
import ZooCore
import ZooPluginKit

@testable import Sessa

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
    for start in [here, here.resolvingSymlinksInPath()] {
      var dir = start.deletingLastPathComponent()
      while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/fixtures")
        if fm.fileExists(atPath: candidate.appendingPathComponent("README.md").path) { return candidate }
        dir = dir.deletingLastPathComponent()
      }
    }
    throw FixtureError(
      "the shared fixtures folder was not found: set ZOO_FIXTURES or place it at <package root>/../shared/fixtures")
  }
}

struct FixtureError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The `sessa` fixture: one official SessaLayer's config.json (constructor arguments),
/// weights.safetensors (its state_dict) and io.safetensors (inputs and outputs), mapped
/// once per test run (loaded layers borrow the mapping).
final class SessaFixture: @unchecked Sendable {
  let config: SessaLayerConfig
  let weightsFile: SafetensorsFile
  let io: SafetensorsFile

  nonisolated(unsafe) private static var cached: SessaFixture?

  static func load() throws -> SessaFixture {
    if let cached { return cached }
    let fixture = try SessaFixture()
    cached = fixture
    return fixture
  }

  private init() throws {
    let folder = try FixtureLocation.root().appendingPathComponent("sessa")
    config = try JSONDecoder().decode(
      SessaLayerConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")))
    weightsFile = try SafetensorsFile(path: folder.appendingPathComponent("weights.safetensors").path)
    io = try SafetensorsFile(path: folder.appendingPathComponent("io.safetensors").path)
  }

  func layer() throws -> SessaLayer {
    try SessaLayer(prefix: "", config: config, weights: Weights(weightsFile))
  }

  /// An io.safetensors tensor as floats ([1, 32, 64] tensors flattened to [32 · 64]).
  func tensor(_ name: String) throws -> [Float] {
    guard let values = io.tensors[name]?.floats() else {
      throw FixtureError("io.safetensors in the sessa fixture has no float tensor '\(name)'")
    }
    return values
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
    path =
      FileManager.default.temporaryDirectory
      .appendingPathComponent("zoo-sessa-\(UUID().uuidString).safetensors").path
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
  let rowCount = logitRows?.count ?? tokens.count
  var logits = [Float](repeating: .nan, count: rowCount * vocab)
  var hidden = [Float](repeating: .nan, count: wantHidden ? tokens.count * model.info.hiddenSize : 0)
  try tokens.withUnsafeBufferPointer { tokenBuffer in
    try withOptionalBuffer(logitRows) { rowBuffer in
      try withOptionalBuffer(positions) { positionBuffer in
        try logits.withUnsafeMutableBufferPointer { logitBuffer in
          try hidden.withUnsafeMutableBufferPointer { hiddenBuffer in
            let input = ForwardInput(
              tokens: tokenBuffer, positions: positionBuffer, mask: mask, logitRows: rowBuffer,
              isCancelled: isCancelled)
            let output = ForwardOutput(
              logits: logitBuffer.baseAddress, hidden: wantHidden ? hiddenBuffer.baseAddress : nil)
            try model.forward(input, state: state, output: output)
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

/// Asserts that `body` throws a PluginError with `code` whose message contains every
/// fragment.
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
