import Foundation
import ZooCore
import ZooPluginKit

/// A fixture or other test prerequisite (a plugin library, a tensor) is missing or
/// unreadable; thrown so the test fails with a sentence saying what to provide.
public struct FixtureError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Where fixtures live: this repository's Tests/Fixtures, one folder per fixture, each
/// with a README giving its provenance (Tests/Fixtures/README.md lists them).
public enum FixtureLocation {
  /// The folder holding every fixture: $ZOO_FIXTURES when set (to run the tests against
  /// fixtures regenerated elsewhere with their make_fixture.py scripts), else Tests/Fixtures.
  public static var root: URL {
    if let env = ProcessInfo.processInfo.environment["ZOO_FIXTURES"], !env.isEmpty {
      return URL(fileURLWithPath: env)
    }
    // This file is Tests/Support/ZooTestSupport/Fixtures.swift.
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Fixtures")
  }

  /// Fixture `name`'s folder, or a FixtureError naming the path looked at.
  public static func folder(_ name: String) throws -> URL {
    let url = root.appendingPathComponent(name)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
      let origin = ProcessInfo.processInfo.environment["ZOO_FIXTURES"].map { " (ZOO_FIXTURES=\($0))" } ?? ""
      throw FixtureError("the fixture folder \(url.path)\(origin) does not exist")
    }
    return url
  }
}

/// A mapped safetensors file whose tensors are read by name, throwing a FixtureError
/// that names the file and the tensor when one is absent or of another type.
public struct TensorFile: @unchecked Sendable {
  public let file: SafetensorsFile

  public init(_ url: URL) throws { file = try SafetensorsFile(path: url.path) }
  public init(_ file: SafetensorsFile) { self.file = file }

  /// A float tensor, flattened in row-major order.
  public func floats(_ name: String) throws -> [Float] {
    guard let v = file.tensors[name]?.floats() else { throw FixtureError("\(file.path) has no float tensor '\(name)'") }
    return v
  }

  /// An int64 tensor of token ids, as the Int32 ids models take.
  public func tokens(_ name: String) throws -> [Int32] {
    guard let v = file.tensors[name]?.int64s() else { throw FixtureError("\(file.path) has no int64 tensor '\(name)'") }
    return v.map { Int32($0) }
  }

  /// Every tensor, in the file's order, as float32 values with its shape: the input
  /// `TemporaryCheckpoint` takes, to rewrite a checkpoint with tensors dropped or added.
  public func allFloats() -> [(name: String, shape: [Int], values: [Float])] {
    file.names.map { name in
      let t = file.tensors[name]!
      return (name, t.shape, t.floats()!)
    }
  }
}

/// A checkpoint written to a temporary file and mapped. Loaded models borrow the mapping
/// through `weights`, so keep this object alive as long as they are used; the file is
/// removed when it goes.
public final class TemporaryCheckpoint {
  public let path: String
  public let file: SafetensorsFile
  public var weights: Weights { Weights(file) }

  /// Writes `tensors` (float32, row-major) to a fresh file under the temporary folder.
  public init(_ tensors: [(name: String, shape: [Int], values: [Float])]) throws {
    var writer = SafetensorsWriter()
    for t in tensors { try writer.add(t.name, shape: t.shape, values: t.values) }
    path = FileManager.default.temporaryDirectory
      .appendingPathComponent("zoo-test-\(UUID().uuidString).safetensors").path
    try writer.write(to: path)
    file = try SafetensorsFile(path: path)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Fixtures built once per test run, by name. Loaded models borrow their fixture's
/// mapped weights, so fixtures are kept for the whole run rather than reloaded.
public final class FixtureCache<Fixture>: @unchecked Sendable {
  private var fixtures: [String: Fixture] = [:]
  private let lock = NSLock()

  public init() {}

  /// The fixture `name`, built by `make` the first time it is asked for.
  public func named(_ name: String, _ make: () throws -> Fixture) rethrows -> Fixture {
    lock.lock()
    defer { lock.unlock() }
    if let fixture = fixtures[name] { return fixture }
    let fixture = try make()
    fixtures[name] = fixture
    return fixture
  }
}
