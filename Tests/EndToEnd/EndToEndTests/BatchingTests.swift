import Foundation
import XCTest
import ZooProto
import ZooRPC
import ZooTestSupport

/// Continuous batching (zood's StepBatcher over a model's forward_batch): requests that
/// run at once on one model advance in shared decode steps, and each gets what it gets
/// alone.
final class BatchingTests: XCTestCase {
  /// Four requests of different lengths, sampled and greedy, run one at a time and then
  /// all at once on zood --parallel 4, on every architecture that batches (Mamba, Sessa,
  /// GAM, Mamba-2, Qwen3): each gets the same tokens both times (logprobs equal to the
  /// rounding of a GEMM against a GEMV), and the metrics show steps that carried several
  /// sequences. Requests that finish early leave the batch while the others go on.
  func testConcurrentRequestsShareStepsAndMatchRunningAlone() async throws {
    let z = try ZoodInstance(extraArguments: ["--parallel", "4"])
    // The bundled models take text; the fixtures (random weights) token ids. No EOS, so
    // every request runs its full length.
    let bundled = ["mamba", "sessa", "gam"]
    for name in bundled {
      try z.addModel(
        from: Paths.packageRoot.appendingPathComponent("models/\(name)-shakespeare"), as: name,
        zooJSON: #"{"tokenizer": "bytes", "eos_token_ids": []}"#)
    }
    try z.addModel(from: FixtureLocation.folder("mamba2-hf"), as: "mamba2", zooJSON: ZoodInstance.noEOS)
    try z.addModel(from: FixtureLocation.folder("tiny-qwen3"), as: "qwen3", zooJSON: ZoodInstance.noEOS)
    try z.start()
    let models = bundled + ["mamba2", "qwen3"]
    let prompts: [(String, [Int32])] = [("ROMEO:\n", [1, 2, 3]), ("First Citizen:\n", [7]), ("KING", [4, 4, 9, 2, 5]), ("O", [11, 3])]
    for model in models {
      let requests = prompts.enumerated().map { i, prompt in
        Zoo_V1_GenerateRequest.with {
          $0.model = model
          if bundled.contains(model) { $0.prompt = prompt.0 } else { $0.promptTokenIds = prompt.1 }
          $0.options = .with {
            $0.maxTokens = [12, 40, 25, 40][i]
            $0.temperature = i == 0 ? 0 : 0.9
            $0.seed = UInt64(100 + i)
            $0.logprobs = 1
          }
        }
      }
      var alone: [[Zoo_V1_GenerateResponse]] = []
      for request in requests { alone.append(try await z.generate(request)) }
      let together = try await withThrowingTaskGroup(of: (Int, [Zoo_V1_GenerateResponse]).self) { group in
        for (i, request) in requests.enumerated() { group.addTask { (i, try await z.generate(request)) } }
        var results = [[Zoo_V1_GenerateResponse]](repeating: [], count: requests.count)
        for try await (i, messages) in group { results[i] = messages }
        return results
      }
      for i in requests.indices {
        let ids = together[i].flatMap(\.tokenIds)
        XCTAssertEqual(ids, alone[i].flatMap(\.tokenIds), "\(model) request \(i): tokens in a batch differ from alone")
        XCTAssertEqual(ids.count, Int(requests[i].options.maxTokens), "\(model) request \(i)")
        let batched = together[i].flatMap(\.logprobs).map(\.chosen.logprob)
        let single = alone[i].flatMap(\.logprobs).map(\.chosen.logprob)
        XCTAssertEqual(batched.count, single.count)
        for (a, b) in zip(batched, single) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(model) request \(i) logprob") }
      }
    }
    let metrics = try await z.withClient { zoo, _ in try await zoo.getMetrics(.init()).text }
    for model in models {
      let steps = try XCTUnwrap(Self.value(of: "zoo_batched_steps_total{model=\"\(model)\"}", in: metrics), metrics)
      let sequences = try XCTUnwrap(Self.value(of: "zoo_batched_sequences_total{model=\"\(model)\"}", in: metrics))
      // Together the four made 11 + 39 + 24 + 39 = 113 decode steps (the first token of
      // each comes from its prefill); run one at a time, none would have been batched.
      XCTAssertGreaterThan(steps, 0, model)
      XCTAssertGreaterThanOrEqual(sequences, 113 / 2, "\(model): only \(sequences) of 113 decode steps ran in batches")
    }
  }

  /// The sample value of the series `name` (with its labels) in Prometheus text.
  static func value(of name: String, in text: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
  }
}
