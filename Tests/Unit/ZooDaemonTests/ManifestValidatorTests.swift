import Foundation
import XCTest
import ZooProto

@testable import ZooDaemon

final class ManifestValidatorTests: XCTestCase {
  func valid() -> Zoo_V1_PluginManifest {
    .with {
      $0.name = "demo"
      $0.version = "1.0.0"
      $0.abiMajor = 1
      $0.abiMinor = 0
      $0.layers = [.with { $0.name = "mixer" }]
      $0.modelTypes = [.with {
        $0.modelType = "demo"
        $0.layers = ["mixer"]
        $0.capabilities = .with {
          $0.causality = .causal
          $0.stateGrowth = .fixed
        }
        $0.config = [.with {
          $0.name = "hidden_size"
          $0.type = .int
          $0.required = true
        }]
      }]
      $0.decoders = [.with { $0.name = "greedy" }]
    }
  }

  func problems(_ m: Zoo_V1_PluginManifest) -> [String] {
    ManifestValidator.problems(in: m, tableMajor: 1, tableMinor: 0)
  }

  func testValidManifestHasNoProblems() {
    XCTAssertEqual(problems(valid()), [])
  }

  func testEachRuleNamesTheField() {
    let cases: [(String, (inout Zoo_V1_PluginManifest) -> Void)] = [
      ("manifest name", { $0.name = "" }),
      ("manifest name", { $0.name = "Bad Name" }),
      ("version is empty", { $0.version = "" }),
      ("differs from the plugin table", { $0.abiMinor = 3 }),
      ("declared twice", { $0.decoders.append(.with { $0.name = "greedy" }) }),
      ("causality", { $0.modelTypes[0].capabilities.causality = .unspecified }),
      ("state grows", { $0.modelTypes[0].capabilities.stateGrowth = .unspecified }),
      ("does not declare", { $0.modelTypes[0].layers = ["attention"] }),
      ("model type ''", { $0.modelTypes[0].modelType = "" }),
      ("has no type", { $0.modelTypes[0].config[0].type = .unspecified }),
      ("optional but has no default", { $0.modelTypes[0].config[0].required = false }),
      ("declares no layers", {
        $0.layers = []
        $0.modelTypes = []
        $0.decoders = []
      }),
    ]
    for (needle, mutate) in cases {
      var m = valid()
      mutate(&m)
      let p = problems(m)
      XCTAssertTrue(p.contains { $0.contains(needle) }, "expected a problem mentioning '\(needle)', got \(p)")
    }
  }

  /// Why `PluginLoader` refuses to open `path`, or nil when it opens it.
  private func refusal(_ path: String) -> String? {
    switch PluginLoader.checkedPath(path) {
    case .success:
      return nil
    case .failure(let failure):
      return failure.reason
    }
  }

  func testPermissionRuleRefusesWritableByOthers() throws {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("zoo-perm-\(UUID().uuidString)")
    try fm.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? fm.removeItem(at: dir) }
    let file = dir.appendingPathComponent("libx.so")
    try Data([0]).write(to: file)
    try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
    XCTAssertNil(refusal(file.path))
    try fm.setAttributes([.posixPermissions: 0o664], ofItemAtPath: file.path)
    XCTAssertTrue(refusal(file.path)?.contains("writable by other users") == true)
    try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
    try fm.setAttributes([.posixPermissions: 0o777], ofItemAtPath: dir.path)
    XCTAssertTrue(refusal(file.path)?.contains("plugin folder") == true)
    // The sticky bit (as on /tmp) makes a world-writable folder safe: only an entry's
    // owner may replace it.
    try fm.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: dir.path)
    XCTAssertNil(refusal(file.path))
  }

  /// The rule covers the file a symlink leads to and every folder above it, not the
  /// path as written.
  func testPermissionRuleFollowsSymlinksAndCoversEveryParent() throws {
    let fm = FileManager.default
    let root = fm.temporaryDirectory.appendingPathComponent("zoo-perm-\(UUID().uuidString)")
    try fm.createDirectory(at: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? fm.removeItem(at: root) }
    // A plugin in a world-writable folder, reached through a link in a safe one.
    let open = root.appendingPathComponent("open")
    let safe = root.appendingPathComponent("safe")
    for folder in [open, safe] { try fm.createDirectory(at: folder, withIntermediateDirectories: true) }
    let target = open.appendingPathComponent("libx.so")
    try Data([0]).write(to: target)
    try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target.path)
    try fm.setAttributes([.posixPermissions: 0o777], ofItemAtPath: open.path)
    let link = safe.appendingPathComponent("libx.so")
    try fm.createSymbolicLink(at: link, withDestinationURL: target)
    XCTAssertTrue(refusal(link.path)?.contains("\(open.path) (\(link.path) leads there) is writable by other users") == true,
      refusal(link.path) ?? "opened")
    // A 0755 folder under a world-writable parent.
    let deep = open.appendingPathComponent("plugins")
    try fm.createDirectory(at: deep, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    let file = deep.appendingPathComponent("liby.so")
    try Data([0]).write(to: file)
    try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
    XCTAssertTrue(refusal(file.path)?.contains("plugin folder \(open.path) is writable") == true, refusal(file.path) ?? "opened")
    // A FIFO named like a plugin is refused, not waited on.
    try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: open.path)
    let fifo = safe.appendingPathComponent("libfifo.so")
    XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
    XCTAssertTrue(refusal(fifo.path)?.contains("not a regular file") == true, refusal(fifo.path) ?? "opened")
  }
}
