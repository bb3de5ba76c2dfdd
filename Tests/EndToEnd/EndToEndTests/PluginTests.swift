import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// Plugins through a real zood: the C example plugin (built here with cc and
/// protobuf-c) serves a model and a decoder; each broken plugin is listed FAILED
/// with its reason while the Swift plugins keep serving.
final class PluginTests: XCTestCase {
  func testCPluginServesAndBadPluginsFailWithReasons() async throws {
    let zood = try ZoodInstance()
    try buildBigramPlugin(into: zood.plugins.appendingPathComponent("libcbigram.so"))
    let pbc = try protobufCSources()
    let bad = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/bad-plugins")
    let badCases = ["missing_entry", "wrong_abi_major", "invalid_manifest", "empty_manifest_name", "init_fails"]
    for name in badCases {
      try buildCPlugin([bad.appendingPathComponent("\(name).c")] + pbc, into: zood.plugins.appendingPathComponent("lib\(name).so"))
    }
    try "this is not an ELF file\n".write(
      to: zood.plugins.appendingPathComponent("libnot_elf.so"), atomically: true, encoding: .utf8)
    // A plugin another user could replace is refused, as ssh refuses such key files.
    let writable = zood.plugins.appendingPathComponent("libwritable.so")
    try FileManager.default.copyItem(at: zood.plugins.appendingPathComponent("libcbigram.so"), to: writable)
    try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: writable.path)

    // A 4-token bigram model: row t holds the logits of the token after t.
    let table: [Float] = [
      0, 5, 1, 0,  // 0 → 1
      0, 0, 0, 7,  // 1 → 3
      4, 0, 0, 0,  // 2 → 0
      0, 0, 6, 1,  // 3 → 2
    ]
    try writeBigramModel(at: zood.models.appendingPathComponent("bigram4"), vocabulary: 4, table: table)
    try zood.addModel(from: FixtureLocation.folder("mamba-hf"), as: "mamba-fixture")
    try zood.start()

    try await zood.withClient { zoo, _ in
      let plugins = try await zoo.listPlugins(.init()).plugins
      func status(_ file: String) throws -> Zoo_V1_PluginStatus {
        try XCTUnwrap(plugins.first { $0.path.hasSuffix("/\(file)") }, "\(file) not listed")
      }
      for ready in ["libZooStateSpace.so", "libZooAutoregressive.so", "libcbigram.so"] {
        let s = try status(ready)
        XCTAssertEqual(s.state, .ready, "\(ready): \(s.error)")
      }
      XCTAssertEqual(try status("libcbigram.so").manifest.name, "cbigram")
      XCTAssertEqual(try status("libZooStateSpace.so").manifest.modelTypes.map(\.modelType).sorted(), ["mamba", "mamba2"])
      let expected: [(String, String)] = [
        ("libnot_elf.so", "not a loadable shared library"),
        ("libmissing_entry.so", "zoo_plugin_init"),
        ("libwrong_abi_major.so", "ABI"),
        ("libinvalid_manifest.so", "not a valid zoo.v1.PluginManifest"),
        ("libempty_manifest_name.so", "invalid manifest"),
        ("libinit_fails.so", "zoo_plugin_init failed"),
        ("libwritable.so", "writable by other users"),
      ]
      for (file, reason) in expected {
        let s = try status(file)
        XCTAssertEqual(s.state, .failed, file)
        XCTAssertTrue(s.error.contains(reason), "\(file): '\(s.error)' should mention '\(reason)'")
      }

      // The C model, driven by the C decoder and by the Swift `ar` decoder alike.
      for decoder in ["greedy_c", "ar"] {
        let messages = try await zood.generate(.with {
          $0.model = "bigram4"
          $0.promptTokenIds = [0]
          $0.options = .with {
            $0.decoder = decoder
            $0.maxTokens = 6
            $0.temperature = 0
            $0.logprobs = 2
            $0.reportSteps = true
          }
        })
        XCTAssertEqual(messages.flatMap(\.tokenIds), [1, 3, 2, 0, 1, 3], "decoder \(decoder)")
        // Each token is committed as it is emitted (the C decoder sets ABI 1.2's mark).
        XCTAssertEqual(messages.flatMap(\.steps).map(\.committed), [1, 2, 3, 4, 5, 6], "decoder \(decoder)")
        // After token 0 the logits are [0, 5, 1, 0]: logprob of 1 is 5 - logsumexp. zood
        // computes it in float32 from exact logits: a few u of the logsumexp (≈ 5),
        // and 1e-5 is 30 u of it.
        let lse = log(exp(0.0) + exp(5.0) + exp(1.0) + exp(0.0))
        let first = try XCTUnwrap(messages.flatMap(\.logprobs).first)
        XCTAssertEqual(Double(first.chosen.logprob), 5 - lse, accuracy: 1e-5, "decoder \(decoder)")
        XCTAssertEqual(first.top.map(\.token), [1, 2], "decoder \(decoder)")
      }

      // The Swift plugins keep serving next to all the failures.
      let mamba = try await zoo.generate(.with {
        $0.model = "mamba-fixture"
        $0.promptTokenIds = [1, 2]
        $0.options = .with { $0.maxTokens = 3 }
      }) { response in
        var n = 0
        for try await m in response.messages { n += m.tokenIds.count }
        return n
      }
      XCTAssertEqual(mamba, 3)
    }
  }

  /// A plugin built against the ABI 1.1 header (Tests/Fixtures/abi-1.1) still loads and
  /// serves under this zood: its decoder's events (which end before `op`) append and
  /// commit, and a 1.2 decoder drives its model (whose info ends before the special
  /// tokens) alike.
  func testABI11PluginKeepsServing() async throws {
    let zood = try ZoodInstance()
    try buildBigramPlugin(into: zood.plugins.appendingPathComponent("libcbigram11.so"), headers: "Tests/Fixtures/abi-1.1")
    let table: [Float] = [0, 5, 1, 0, 0, 0, 0, 7, 4, 0, 0, 0, 0, 0, 6, 1]
    try writeBigramModel(at: zood.models.appendingPathComponent("bigram4"), vocabulary: 4, table: table)
    try zood.start()
    let plugins = try await zood.withClient { zoo, _ in try await zoo.listPlugins(.init()).plugins }
    let bigram = try XCTUnwrap(plugins.first { $0.path.hasSuffix("/libcbigram11.so") })
    XCTAssertEqual(bigram.state, .ready, bigram.error)
    XCTAssertEqual(bigram.manifest.abiMinor, 1)
    for decoder in ["greedy_c", "ar"] {
      let messages = try await zood.generate(.with {
        $0.model = "bigram4"
        $0.promptTokenIds = [0]
        $0.options = .with {
          $0.decoder = decoder
          $0.maxTokens = 6
          $0.temperature = 0
          $0.reportSteps = true
        }
      })
      XCTAssertEqual(messages.flatMap(\.tokenIds), [1, 3, 2, 0, 1, 3], "decoder \(decoder)")
      XCTAssertEqual(messages.flatMap(\.steps).map(\.committed), [1, 2, 3, 4, 5, 6], "decoder \(decoder)")
      XCTAssertEqual(messages.last?.finishReason, .length)
      XCTAssertEqual(messages.last?.stats.forwardPasses, 6, "decoder \(decoder)")
    }
  }
}
