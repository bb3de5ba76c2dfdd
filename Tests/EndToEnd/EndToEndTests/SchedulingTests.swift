import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// Per-model slots, the bounded queue and idle unloading.
final class SchedulingTests: XCTestCase {
  static func longRequest(_ model: String) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = model
      $0.promptTokenIds = [1]
      $0.options = .with { $0.maxTokens = 65536 }
    }
  }

  func testFullQueueIsResourceExhaustedAndWaitersGetTheSlot() async throws {
    let z = try ZoodInstance(extraArguments: ["--parallel", "1", "--max-queue", "1"])
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    try await z.withClient { zoo, _ in
      try await withThrowingTaskGroup(of: Void.self) { group in
        // One running: read a token so it surely holds the slot, then keep it busy.
        let started = AsyncStream<Void>.makeStream()
        group.addTask {
          try await zoo.generate(Self.longRequest("m")) { response in
            var n = 0
            for try await _ in response.messages {
              n += 1
              if n == 1 { started.continuation.yield() }
              if n == 400 { break }
            }
          }
        }
        for await _ in started.stream { break }
        // One waiting in the queue (the limit)...
        let queued = AsyncStream<Int32>.makeStream()
        group.addTask {
          let tokens = try await zoo.generate(.with {
            $0.model = "m"
            $0.promptTokenIds = [2]
            $0.options = .with { $0.maxTokens = 3 }
          }) { response in
            var n: Int32 = 0
            for try await m in response.messages { n += Int32(m.tokenIds.count) }
            return n
          }
          queued.continuation.yield(tokens)
        }
        // ...so a third is refused.
        var sawQueued = false
        for _ in 0..<200 {
          let loaded = try await zoo.listLoaded(.init()).models.first { $0.name == "m" }
          if loaded?.queuedRequests == 1 {
            sawQueued = true
            break
          }
          try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertTrue(sawQueued, "the second request should wait in the queue")
        await assertRPCError(.resourceExhausted, containing: "busy") {
          try await zoo.generate(Self.longRequest("m")) { response in
            for try await _ in response.messages {}
          }
        }
        // When the first finishes, the queued one runs to completion.
        for await tokens in queued.stream {
          XCTAssertEqual(tokens, 3)
          break
        }
        try await group.waitForAll()
      }
    }
  }

  func testIdleModelUnloadsAfterKeepAlive() async throws {
    let z = try ZoodInstance(extraArguments: ["--keep-alive", "1"])
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    try await z.withClient { zoo, _ in
      _ = try await zoo.generate(.with {
        $0.model = "m"
        $0.promptTokenIds = [1]
        $0.options = .with { $0.maxTokens = 2 }
      }) { response in
        for try await _ in response.messages {}
      }
      let loaded = try await zoo.listLoaded(.init()).models.map(\.name)
      XCTAssertEqual(loaded, ["m"])
      var unloaded = false
      for _ in 0..<50 {
        try await Task.sleep(for: .milliseconds(100))
        if try await zoo.listLoaded(.init()).models.isEmpty {
          unloaded = true
          break
        }
      }
      XCTAssertTrue(unloaded, "the model should unload about 1 s after its last request")
    }
  }
}
