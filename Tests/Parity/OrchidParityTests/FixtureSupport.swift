import Foundation
import XCTest
import ZooCore
import ZooPluginKit

@testable import Orchid

/// Where the shared fixtures live: $ZOO_FIXTURES, else the first `shared/fixtures` found
/// walking up from this file (symlinks resolved), i.e. `<package root>/../shared/fixtures`.
enum FixtureLocation {
  static func root(file: String = #filePath) throws -> URL {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment["ZOO_FIXTURES"], !env.isEmpty {
      guard fm.fileExists(atPath: env) else { throw FixtureError("ZOO_FIXTURES is set to '\(env)', which does not exist") }
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
    throw FixtureError("the shared fixtures folder was not found: set ZOO_FIXTURES or place it at <package root>/../shared/fixtures")
  }
}

struct FixtureError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The `orchid` fixture: one official OrchidOperator's state_dict, its constructor
/// arguments (config.json) and io.safetensors. Mapped once per test run, since loaded
/// operators borrow the mapping.
final class OrchidFixture: @unchecked Sendable {
  let configJSON: Data
  let weightsFile: SafetensorsFile
  let io: SafetensorsFile

  nonisolated(unsafe) private static var cached: OrchidFixture?

  static func load() throws -> OrchidFixture {
    if let cached { return cached }
    let folder = try FixtureLocation.root().appendingPathComponent("orchid")
    let fixture = OrchidFixture(
      configJSON: try Data(contentsOf: folder.appendingPathComponent("config.json")),
      weightsFile: try SafetensorsFile(path: folder.appendingPathComponent("weights.safetensors").path),
      io: try SafetensorsFile(path: folder.appendingPathComponent("io.safetensors").path))
    cached = fixture
    return fixture
  }

  private init(configJSON: Data, weightsFile: SafetensorsFile, io: SafetensorsFile) {
    self.configJSON = configJSON
    self.weightsFile = weightsFile
    self.io = io
  }

  /// The fixture's constructor arguments, read as zoo reads an operator config.
  func config(causal: Bool = false) throws -> OrchidOperatorConfig {
    var config = try JSONDecoder().decode(OrchidOperatorConfig.self, from: configJSON)
    config.causal = causal
    return config
  }

  func makeOperator(causal: Bool = false) throws -> OrchidOperator {
    try OrchidOperator(Weights(weightsFile), prefix: "", config: config(causal: causal))
  }

  func tensor(_ name: String) throws -> [Float] {
    guard let values = io.tensors[name]?.floats() else { throw FixtureError("io.safetensors has no float tensor '\(name)'") }
    return values
  }

  /// The operator's weights as float arrays, by official name.
  func weight(_ name: String) -> [Float] { weightsFile.tensors[name]!.floats()! }
  var weightNames: [String] { weightsFile.names }
}

/// A checkpoint written to a temporary file and mapped; lives as long as its models.
final class TemporaryCheckpoint {
  let path: String
  let file: SafetensorsFile
  var weights: Weights { Weights(file) }

  init(_ tensors: [(name: String, shape: [Int], values: [Float])]) throws {
    var writer = SafetensorsWriter()
    for t in tensors { try writer.add(t.name, shape: t.shape, values: t.values) }
    path = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-orchid-\(UUID().uuidString).safetensors").path
    try writer.write(to: path)
    file = try SafetensorsFile(path: path)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A reproducible stream of N(0, 1) floats (SplitMix64 + Box–Muller).
struct NormalGenerator {
  private var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> Float {
    func uniform() -> Double {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return (Double((z ^ (z >> 31)) >> 11) + 0.5) / Double(1 << 53)
    }
    return Float((-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()))
  }

  mutating func values(_ count: Int, scale: Float = 1, offset: Float = 0) -> [Float] {
    (0..<count).map { _ in offset + scale * next() }
  }
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
  print("orchid \(what): max abs error \(error) over \(expected.count) values")
  XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
  XCTAssertLessThan(error, tolerance, "\(what): max abs error \(error) exceeds \(tolerance)", file: file, line: line)
}

/// Asserts that `body` throws a PluginError with `code` whose message contains every fragment.
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
      XCTAssertTrue(error.message.contains(fragment), "\(what): '\(error.message)' does not mention '\(fragment)'", file: file, line: line)
    }
  } catch {
    XCTFail("\(what): expected a PluginError, got \(error)", file: file, line: line)
  }
}

extension OrchidOperator {
  /// The bidirectional operator on Swift arrays.
  func run(_ u: [Float], length: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: length * config.dModel)
    forward(u, length: length, into: &out)
    return out
  }

  /// The causal variant on Swift arrays, continuing `state`.
  func runCausal(_ u: [Float], rows: Int, position: Int, state: inout [Float], symmetric: Bool = false) -> [Float] {
    var out = [Float](repeating: .nan, count: rows * config.dModel)
    forwardCausal(u, rows: rows, position: position, state: &state, scratch: nil, into: &out, symmetricConditioning: symmetric)
    return out
  }
}
