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

  func testPermissionRuleRefusesWritableByOthers() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-perm-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("libx.so")
    try Data([0]).write(to: file)
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
    XCTAssertNil(PluginLoader.permissionProblem(file.path))
    try FileManager.default.setAttributes([.posixPermissions: 0o664], ofItemAtPath: file.path)
    XCTAssertTrue(PluginLoader.permissionProblem(file.path)?.contains("writable by other users") == true)
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
    try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: dir.path)
    XCTAssertTrue(PluginLoader.permissionProblem(file.path)?.contains("plugin folder") == true)
  }
}
