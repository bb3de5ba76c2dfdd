import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// zood --isolate: models run in worker processes, so a plugin that segfaults, aborts or
/// hangs in forward costs only the request it ran. The faulty plugin
/// (Tests/Fixtures/bad-plugins/faulty_forward.c) is the C example plugin that crashes
/// on '=', aborts on '!' and hangs on '~'.
final class IsolationTests: XCTestCase {
  /// A zood with the faulty plugin and a Mamba fixture, every plugin isolated.
  private func isolatedZood() throws -> ZoodInstance {
    let z = try ZoodInstance(extraArguments: ["--isolate", "--hang-timeout", "5"])
    // Every byte is followed by 'a', so a generation never feeds itself a fault.
    try z.addFaultyModel("faulty", next: "a")
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    return z
  }

  private func faulty(_ prompt: String) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = "faulty"
      $0.prompt = prompt
      $0.options = .with { $0.maxTokens = 4; $0.temperature = 0 }
    }
  }

  private func text(_ messages: [Zoo_V1_GenerateResponse]) -> String { messages.map(\.text).joined() }

  func testCrashingPluginCostsOnlyItsOwnRequestAndRestarts() async throws {
    let z = try isolatedZood()
    let hiAnswer = text(try await z.generate(faulty("hi")))
    XCTAssertEqual(hiAnswer, "aaaa")

    // A long stream on another model runs across every fault below and never notices.
    let other = Task {
      try await z.generate(.with {
        $0.model = "m"
        $0.promptTokenIds = [1]
        $0.options = .with { $0.maxTokens = 3000; $0.seed = 1 }
      })
    }

    await assertRPCError(.unavailable, containing: "killed by SIGSEGV") { try await z.generate(faulty("x=y")) }
    let restarted = text(try await z.generate(faulty("hi")))
    XCTAssertEqual(restarted, "aaaa", "the next request is served by a restarted worker")
    await assertRPCError(.unavailable, containing: "killed by SIGABRT") { try await z.generate(faulty("!")) }
    let okAnswer = text(try await z.generate(faulty("ok")))
    XCTAssertEqual(okAnswer, "aaaa")

    let stream = try await other.value
    XCTAssertEqual(stream.last?.finishReason, .length, "the other model's stream must complete")
    XCTAssertEqual(stream.last?.stats.generatedTokens, 3000)

    try await z.withClient { zoo, _ in
      let plugins = try await zoo.listPlugins(.init()).plugins
      let status = try XCTUnwrap(plugins.first { $0.manifest.name == "faulty" })
      XCTAssertTrue(status.isolated)
      XCTAssertEqual(status.workerRestarts, 2)
      XCTAssertTrue(status.lastCrash.contains("SIGABRT") && status.lastCrash.contains("'faulty'"), status.lastCrash)
      let mamba = try XCTUnwrap(plugins.first { $0.manifest.name == "statespace" })
      XCTAssertEqual(mamba.workerRestarts, 0)
      XCTAssertEqual(mamba.lastCrash, "")
      // `zoo ps`: both models, each in its own worker process.
      let loaded = try await zoo.listLoaded(.init()).models
      XCTAssertEqual(Set(loaded.map(\.name)), ["faulty", "m"])
      XCTAssertTrue(loaded.allSatisfy { $0.workerPid > 0 && $0.workerPid != z.process!.processIdentifier })
      XCTAssertNotEqual(loaded[0].workerPid, loaded[1].workerPid)
    }
    // `zoo plugins` shows the restarts and the last crash.
    let cli = try runProcess(try Paths.product("zoo").path, ["plugins", "--socket", z.socket])
    let row = cli.stdout.split(separator: "\n").first { $0.hasPrefix("faulty ") && $0.contains("SIGABRT") }
    XCTAssertNotNil(row, cli.stdout)
    XCTAssertEqual(row?.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first, "2", cli.stdout)
  }

  func testHangingForwardIsKilledAndRestarted() async throws {
    let z = try isolatedZood()
    let started = ContinuousClock.now
    await assertRPCError(.unavailable, containing: "sending nothing for 5") { try await z.generate(faulty("~")) }
    XCTAssertLessThan(ContinuousClock.now - started, .seconds(30))
    let hiAnswer = text(try await z.generate(faulty("hi")))
    XCTAssertEqual(hiAnswer, "aaaa")
    try await z.withClient { zoo, _ in
      let plugins = try await zoo.listPlugins(.init()).plugins
      let status = try XCTUnwrap(plugins.first { $0.manifest.name == "faulty" })
      XCTAssertEqual(status.workerRestarts, 1)
    }
  }

  /// Unload stops the worker; SIGTERM stops zood and its workers, removing every socket.
  func testUnloadAndShutdownStopWorkers() async throws {
    let z = try isolatedZood()
    let hiAnswer = text(try await z.generate(faulty("hi")))
    XCTAssertEqual(hiAnswer, "aaaa")
    let pid = try await z.withClient { zoo, _ in
      let models = try await zoo.listLoaded(.init()).models
      let pid = try XCTUnwrap(models.first).workerPid
      _ = try await zoo.unloadModel(.with { $0.model = "faulty" })
      return pid
    }
    try await waitUntil("the worker \(pid) exits") { kill(pid, 0) != 0 }
    let reloaded = text(try await z.generate(faulty("hi")))
    XCTAssertEqual(reloaded, "aaaa", "a new worker serves after an unload")
    XCTAssertEqual(z.stop(), 0, z.log)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: z.root.path).filter { $0.contains("zood") }, [])
  }

  private func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while !condition() {
      guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting until \(what)") }
      try await Task.sleep(for: .milliseconds(50))
    }
  }
}

extension IsolationTests {
  /// Under isolation the worker loads and scores: LoadModelWithProgress passes its
  /// progress through and names the worker, and Score streams as in process (the same
  /// logprobs as an in-process zood's).
  func testLoadProgressAndScoreComeThroughTheWorker() async throws {
    let isolated = try isolatedZood()
    let updates = try await isolated.withClient { zoo, _ in
      try await zoo.loadModelWithProgress(.with { $0.model = "m" }) { response in
        var all: [Zoo_V1_LoadModelProgress] = []
        for try await m in response.messages { all.append(m) }
        return all
      }
    }
    XCTAssertTrue(updates.contains { $0.stage == "reading weights" && $0.fraction == 1 }, "\(updates)")
    XCTAssertGreaterThan(updates.last?.model.workerPid ?? 0, 0, "\(updates)")

    let request = Zoo_V1_ScoreRequest.with {
      $0.model = "m"
      $0.tokenIds = Array(1...40)
      $0.logprobs = 1
    }
    func score(_ z: ZoodInstance) async throws -> [Zoo_V1_TokenLogprobs] {
      try await z.withClient { zoo, _ in
        try await zoo.score(request) { response in
          var all: [Zoo_V1_TokenLogprobs] = []
          for try await m in response.messages { all += m.tokens }
          return all
        }
      }
    }
    let inProcess = try ZoodInstance()
    try inProcess.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try inProcess.start()
    let viaWorker = try await score(isolated)
    let inZood = try await score(inProcess)
    XCTAssertEqual(viaWorker.count, 40)
    XCTAssertEqual(viaWorker, inZood)
  }
}
