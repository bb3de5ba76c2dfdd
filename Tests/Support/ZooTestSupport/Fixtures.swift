import Foundation
import ZooCore
import ZooPluginKit

/// A fixture or other test prerequisite (a plugin library, a tensor) is missing or
/// unreadable; thrown so the test fails with a sentence saying what to provide.
public struct FixtureError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Where fixtures live.
public enum FixtureLocation {
  /// The shared fixtures folder: $ZOO_FIXTURES, else the first `shared/fixtures` (one
  /// holding a README.md) found walking up from this file, both as written and with
  /// symlinks resolved, i.e. `<package root>/../shared/fixtures` for /work/main and for
  /// side packages that link its Tests folder.
  public static func shared() throws -> URL {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment["ZOO_FIXTURES"], !env.isEmpty {
      guard fm.fileExists(atPath: env) else {
        throw FixtureError("ZOO_FIXTURES is set to '\(env)', which does not exist")
      }
      return URL(fileURLWithPath: env)
    }
    let here = URL(fileURLWithPath: #filePath)
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

  /// This repository's committed fixture `Tests/Fixtures/<name>` (not checked for
  /// existence: the caller's read says what is missing).
  public static func local(_ name: String) -> URL {
    // This file is Tests/Support/ZooTestSupport/Fixtures.swift.
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
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
