import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// zood --max-memory: loading past the budget unloads idle models, least recently used
/// first; a model that cannot fit is refused with RESOURCE_EXHAUSTED naming the sizes.
final class MemoryBudgetTests: XCTestCase {
  /// Three copies of the Mamba fixture (329,624 bytes of weights each) under a budget
  /// of 800K (819,200 bytes): two fit, a third needs one of them gone.
  private func zood(budget: String) throws -> ZoodInstance {
    let z = try ZoodInstance(extraArguments: ["--max-memory", budget])
    for name in ["a", "b", "c"] {
      try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: name, zooJSON: ZoodInstance.noEOS)
    }
    try z.start()
    return z
  }

  private func loaded(_ zoo: Zoo_V1_Zoo.Client<some ClientTransport>) async throws -> [String] {
    try await zoo.listLoaded(.init()).models.map(\.name).sorted()
  }

  func testIdleModelsAreUnloadedLeastRecentlyUsedFirst() async throws {
    let z = try zood(budget: "800K")
    try await z.withClient { zoo, _ in
      _ = try await zoo.loadModel(.with { $0.model = "a" })
      _ = try await zoo.loadModel(.with { $0.model = "b" })
      _ = try await z.generate(ReliabilityTests.request("a"))  // a is now the more recently used
      _ = try await zoo.loadModel(.with { $0.model = "c" })
      let names = try await loaded(zoo)
      XCTAssertEqual(names, ["a", "c"])
      XCTAssertTrue(z.log.contains("unloaded model b"), z.log)
    }
  }

  func testModelLargerThanTheBudgetIsRefusedWithSizes() async throws {
    let z = try zood(budget: "100K")
    await assertRPCError(.resourceExhausted, containing: "'a' needs 329624 bytes of weights, more than zood's whole --max-memory of 102400 bytes") {
      try await z.generate(ReliabilityTests.request("a"))
    }
  }

  func testModelsInUseAreNeverUnloadedForAnother() async throws {
    let z = try zood(budget: "800K")
    try await z.withClient { zoo, _ in
      // Two streams that run until cancelled hold a and b.
      let streams = ["a", "b"].map { name in
        Task {
          try await zoo.generate(.with {
            $0.model = name
            $0.promptTokenIds = [1]
            $0.options = .with { $0.maxTokens = 65536 }
          }) { response in
            for try await _ in response.messages {}
          }
        }
      }
      var busy = false
      for _ in 0..<200 where !busy {
        try await Task.sleep(for: .milliseconds(50))
        busy = try await zoo.listLoaded(.init()).models.filter { $0.activeRequests > 0 }.count == 2
      }
      XCTAssertTrue(busy, "both streams should be running")
      await assertRPCError(.resourceExhausted, containing: "is held by models in use: a (329624 bytes), b (329624 bytes)") {
        try await zoo.loadModel(.with { $0.model = "c" })
      }
      streams.forEach { $0.cancel() }
      let names = try await loaded(zoo)
      XCTAssertEqual(names, ["a", "b"])
    }
  }
}
