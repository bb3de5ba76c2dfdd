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
      ("has a minimum 'low' that is not a number", {
        $0.decoders[0].options = [.with {
          $0.name = "steps"
          $0.type = .int
          $0.defaultJson = "8"
          $0.minimum = "low"
        }]
      }),
      ("the default of decoder 'greedy' option 'steps' is '0'; it takes an integer in 1...64", {
        $0.decoders[0].options = [.with {
          $0.name = "steps"
          $0.type = .int
          $0.defaultJson = "0"
          $0.minimum = "1"
          $0.maximum = "64"
        }]
      }),
      ("the default of middleware 'gate' option 'mode' is 'loud'; it takes one of quiet, strict", {
        $0.middleware = [.with {
          $0.name = "gate"
          $0.config = [.with {
            $0.name = "mode"
            $0.type = .string
            $0.defaultJson = #""loud""#
            $0.allowed = ["quiet", "strict"]
          }]
        }]
      }),
      ("middleware name 'Gate!'", { $0.middleware = [.with { $0.name = "Gate!" }] }),
      ("middleware 'gate' lists RPC 'Generate'; a middleware may serve CheckToolCall, GateTools", {
        $0.middleware = [.with {
          $0.name = "gate"
          $0.rpcs = ["Generate"]
        }]
      }),
      ("middleware 'gate' serves RPCs, which needs ABI 1.5 (zoo_middleware_api.call); the plugin is built for 1.0", {
        $0.middleware = [.with {
          $0.name = "gate"
          $0.rpcs = ["GateTools"]
        }]
      }),
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

/// Decoder and middleware options checked against their declarations, as zood checks a
/// request's `decoder_options` and middleware options.
final class OptionValidationTests: XCTestCase {
  let declared: [Zoo_V1_ConfigField] = [
    .with {
      $0.name = "steps"
      $0.type = .int
      $0.defaultJson = "64"
      $0.minimum = "1"
      $0.maximum = "1024"
    },
    .with {
      $0.name = "threshold"
      $0.type = .float
      $0.defaultJson = "0.9"
      $0.minimum = "0"
      $0.maximum = "1"
    },
    .with {
      $0.name = "remasking"
      $0.type = .string
      $0.defaultJson = #""low_confidence""#
      $0.allowed = ["low_confidence", "random"]
    },
    .with {
      $0.name = "cache"
      $0.type = .bool
      $0.defaultJson = "false"
    },
    .with {
      $0.name = "blocks"
      $0.type = .intList
      $0.defaultJson = "[32, 32]"
      $0.minimum = "1"
    },
    .with {
      $0.name = "temperature_schedule"
      $0.type = .floatList
      $0.required = true
    },
  ]

  func checked(_ given: [String: String]) throws -> [String: String] {
    try RequestValidation.checkedOptions(given, declared: declared, owner: "decoder 'd'")
  }

  func testDefaultsAreFilledAndValuesKept() throws {
    let out = try checked(["temperature_schedule": "1.0, 0.5", "steps": "8"])
    XCTAssertEqual(
      out,
      [
        "steps": "8", "threshold": "0.9", "remasking": "low_confidence", "cache": "false", "blocks": "[32, 32]",
        "temperature_schedule": "1.0, 0.5",
      ])
  }

  func testEachRefusalNamesTheOptionAndWhatItTakes() {
    let cases: [([String: String], String)] = [
      (["steps": "0"], "option 'steps' is '0'; it takes an integer in 1...1024"),
      (["steps": "2.5"], "option 'steps' is '2.5'; it takes an integer in 1...1024"),
      (["threshold": "1.5"], "option 'threshold' is '1.5'; it takes a number in 0...1"),
      (["threshold": "nan"], "option 'threshold' is 'nan'"),
      (["remasking": "top"], "it takes one of low_confidence, random"),
      (["cache": "yes"], "it takes true or false"),
      (["blocks": "[4, 0]"], "it takes a comma-separated list of integers >= 1"),
      (["speed": "2"], "decoder 'd' has no option 'speed'; it takes blocks, cache, remasking, steps, temperature_schedule, threshold"),
      ([:], "decoder 'd' needs option 'temperature_schedule' (a comma-separated list of numbers)"),
    ]
    for (given, needle) in cases {
      var options = given
      if needle.contains("needs option") == false && options["temperature_schedule"] == nil {
        options["temperature_schedule"] = "1"
      }
      XCTAssertThrowsError(try checked(options), "\(given)") { error in
        let message = (error as? ZooError)?.message ?? "\(error)"
        XCTAssertTrue(message.contains(needle), "'\(message)' should mention '\(needle)'")
        XCTAssertEqual((error as? ZooError)?.code, .invalidArgument)
      }
    }
  }
}
