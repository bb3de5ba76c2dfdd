import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// Generation through a real zood over gRPC: streaming, token-id prompts, logprobs
/// checked against the official fixtures, seeds, stop strings, cancellation, errors.
final class GenerateTests: XCTestCase {
  static let shared = SharedZood()

  override class func setUp() {
    super.setUp()
    // One request per model at a time: a cancel test then proves its slot came back.
    shared.start(arguments: ["--parallel", "1"]) { z in
      try z.addModel(
        from: FixtureLocation.folder("mamba-hf"), as: "mamba-fixture", zooJSON: ZoodInstance.noEOS)
      try z.addModel(from: FixtureLocation.folder("mamba2-hf"), as: "mamba2-fixture")
      // The same weights with the byte tokenizer, for text prompts and stop strings.
      try z.addModel(
        from: FixtureLocation.folder("mamba-hf"), as: "mamba-bytes",
        zooJSON: #"{"tokenizer": "bytes", "description": "fixture weights with a byte tokenizer"}"#)
    }
  }

  override class func tearDown() {
    shared.stop()
    super.tearDown()
  }

  var zood: ZoodInstance {
    get throws { try Self.shared.zood }
  }

  func generate(_ request: Zoo_V1_GenerateRequest) async throws -> [Zoo_V1_GenerateResponse] {
    try await zood.generate(request)
  }

  /// The last prompt position's logprobs through gRPC match the official fixture.
  func checkFirstTokenAgainstFixture(model: String, fixture: String) async throws {
    let io = try FixtureTensors.read(FixtureLocation.folder(fixture).appendingPathComponent("io.safetensors"))
    let ids = io["input_ids"]!.values.map { Int32($0) }
    let logits = io["logits"]!
    let vocab = logits.shape[2]
    for promptLength in [1, 12, ids.count] {
      let row = Array(logits.values[((promptLength - 1) * vocab)..<(promptLength * vocab)])
      let maxLogit = row.max()!
      let lse = maxLogit + log(row.reduce(0) { $0 + exp($1 - maxLogit) })
      let ranked = row.indices.sorted { row[$0] > row[$1] }
      // zoo's logits are within `Tolerance.official` of the fixture's, and a logprob
      // (logit − logsumexp) carries that error twice.
      let bound = Double(2 * Tolerance.official.bound(for: row.map(Float.init)))
      // The ranking is compared too, so its neighbours must be further apart than
      // rounding can move them (the fixtures' top six are ≥ 0.005 apart, 30× the bound).
      for k in 0..<5 { XCTAssertGreaterThan(row[ranked[k]] - row[ranked[k + 1]], 2 * bound, "fixture ranks \(k), \(k + 1)") }

      let messages = try await generate(.with {
        $0.model = model
        $0.promptTokenIds = Array(ids.prefix(promptLength))
        $0.options = .with {
          $0.maxTokens = 1
          $0.temperature = 0
          $0.logprobs = 5
        }
      })
      let tokens = messages.flatMap(\.tokenIds)
      XCTAssertEqual(tokens, [Int32(ranked[0])], "greedy token after \(promptLength) prompt tokens")
      let lp = try XCTUnwrap(messages.flatMap(\.logprobs).first)
      XCTAssertEqual(Double(lp.chosen.logprob), row[ranked[0]] - lse, accuracy: bound)
      XCTAssertEqual(lp.top.map(\.token), ranked.prefix(5).map(Int32.init))
      for (alt, id) in zip(lp.top, ranked) { XCTAssertEqual(Double(alt.logprob), row[id] - lse, accuracy: bound) }
      let last = try XCTUnwrap(messages.last)
      XCTAssertTrue(last.done)
      XCTAssertEqual(last.finishReason, .length)
      XCTAssertEqual(last.stats.promptTokens, Int32(promptLength))
      XCTAssertEqual(last.stats.generatedTokens, 1)
    }
  }

  func testMambaLogprobsMatchOfficialFixture() async throws {
    try await checkFirstTokenAgainstFixture(model: "mamba-fixture", fixture: "mamba-hf")
  }

  func testMamba2LogprobsMatchOfficialFixture() async throws {
    try await checkFirstTokenAgainstFixture(model: "mamba2-fixture", fixture: "mamba2-hf")
  }

  func testStreamsOneMessagePerTokenThenDone() async throws {
    let messages = try await generate(.with {
      $0.model = "mamba-fixture"
      $0.promptTokenIds = [1, 2, 3]
      $0.options = .with { $0.maxTokens = 10 }
    })
    XCTAssertEqual(messages.count, 11, "10 token messages and a final one")
    XCTAssertEqual(messages.dropLast().map(\.tokenIds.count), Array(repeating: 1, count: 10))
    XCTAssertTrue(messages.dropLast().allSatisfy { !$0.done })
    XCTAssertEqual(messages.last?.finishReason, .length)
    XCTAssertEqual(messages.last?.stats.generatedTokens, 10)
    XCTAssertGreaterThan(messages.last?.stats.prefillSeconds ?? 0, 0)
  }

  func testSameSeedSameTokensDifferentSeedDifferent() async throws {
    func tokens(seed: UInt64) async throws -> [Int32] {
      try await generate(.with {
        $0.model = "mamba-fixture"
        $0.promptTokenIds = [5, 6, 7]
        $0.options = .with {
          $0.maxTokens = 24
          $0.temperature = 1.5
          $0.topK = 0
          $0.topP = 1
          $0.seed = seed
        }
      }).flatMap(\.tokenIds)
    }
    let a = try await tokens(seed: 1234)
    let b = try await tokens(seed: 1234)
    let c = try await tokens(seed: 999)
    XCTAssertEqual(a.count, 24)
    XCTAssertEqual(a, b)
    XCTAssertNotEqual(a, c)
  }

  func testTextPromptAndStopString() async throws {
    // Greedy, so the continuation is fixed; find it, then stop on a piece of it.
    let free = try await generate(.with {
      $0.model = "mamba-bytes"
      $0.prompt = "Hi"
      $0.options = .with {
        $0.maxTokens = 16
        $0.temperature = 0
      }
    })
    let ids = free.flatMap(\.tokenIds)
    XCTAssertEqual(ids.count, 16)
    let fullText = free.map(\.text).joined()
    XCTAssertEqual(Array(fullText.utf8), ids.map { UInt8($0) }.withUnsafeBufferPointer { Array(String(decoding: $0, as: UTF8.self).utf8) })

    // Stop at the bytes of tokens 5...6 (decoded leniently, as zood does).
    let stopBytes = ids[5...6].map { UInt8($0) }
    let stop = String(decoding: stopBytes, as: UTF8.self)
    guard Array(stop.utf8) == stopBytes, let cut = fullText.range(of: stop) else {
      throw XCTSkip("greedy continuation bytes 5...6 are not a standalone UTF-8 string")
    }
    let stopped = try await generate(.with {
      $0.model = "mamba-bytes"
      $0.prompt = "Hi"
      $0.options = .with {
        $0.maxTokens = 16
        $0.temperature = 0
        $0.stop = [stop]
      }
    })
    XCTAssertEqual(stopped.last?.finishReason, .stop)
    XCTAssertEqual(stopped.map(\.text).joined(), String(fullText[..<cut.lowerBound]))
  }

  func testCancelMidStreamStopsDecoderAndFreesSlot() async throws {
    // zood runs one request per model (--parallel 1): if the cancelled request kept its
    // slot, the request after it would wait forever.
    let received = try await zood.withClient { zoo, _ in
      try await zoo.generate(.with {
        $0.model = "mamba-fixture"
        $0.promptTokenIds = [1]
        $0.options = .with { $0.maxTokens = 65536 }
      }) { response in
        var n = 0
        for try await _ in response.messages {
          n += 1
          if n == 3 { break }  // returning cancels the RPC
        }
        return n
      }
    }
    XCTAssertEqual(received, 3)
    // The decoder notices within a step and the slot frees.
    var active: Int32 = -1
    for _ in 0..<100 {
      let loaded = try await zood.withClient { zoo, _ in try await zoo.listLoaded(.init()) }
      active = loaded.models.first { $0.name == "mamba-fixture" }?.activeRequests ?? 0
      if active == 0 { break }
      try await Task.sleep(for: .milliseconds(50))
    }
    XCTAssertEqual(active, 0, "the cancelled request still holds its slot")
    let after = try await generate(.with {
      $0.model = "mamba-fixture"
      $0.promptTokenIds = [1]
      $0.options = .with { $0.maxTokens = 2 }
    })
    XCTAssertEqual(after.last?.stats.generatedTokens, 2)
  }

  func testDeadlineExceededEndsGeneration() async throws {
    await assertRPCError(.deadlineExceeded, containing: "timed out") {
      try await zood.withClient { zoo, _ in
        var options = CallOptions.defaults
        options.timeout = .milliseconds(300)
        return try await zoo.generate(
          .with {
            $0.model = "mamba-fixture"
            $0.promptTokenIds = [1]
            $0.options = .with { $0.maxTokens = 65536 }
          }, options: options
        ) { response in
          for try await _ in response.messages {}
        }
      }
    }
  }

  func testUnknownModelIsNotFound() async {
    await assertRPCError(.notFound, containing: "no-such-model") {
      try await self.generate(.with {
        $0.model = "no-such-model"
        $0.prompt = "x"
      })
    }
  }

  func testBadOptionsAreInvalidArgument() async {
    let bad: [(String, (inout Zoo_V1_GenerateRequest) -> Void)] = [
      ("temperature", { $0.options.temperature = -1 }),
      ("top_p", { $0.options.topP = 0 }),
      ("top_k", { $0.options.topK = -3 }),
      ("logprobs", { $0.options.logprobs = 50 }),
      ("max_tokens", { $0.options.maxTokens = -1 }),
      ("stop", { $0.options.stop = [""] }),
      ("not several", { $0.prompt = "text" }),
      ("outside the vocabulary", { $0.promptTokenIds = [1, 256] }),
      ("unknown decoder", { $0.options.decoder = "nope" }),
    ]
    for (needle, mutate) in bad {
      var request = Zoo_V1_GenerateRequest.with {
        $0.model = "mamba-bytes"
        $0.promptTokenIds = [1, 2]
      }
      mutate(&request)
      await assertRPCError(.invalidArgument, containing: needle) { try await self.generate(request) }
    }
    await assertRPCError(.invalidArgument, containing: "empty") {
      try await self.generate(.with { $0.model = "mamba-bytes" })
    }
  }

  func testMessagesNeedAChatTemplate() async {
    await assertRPCError(.failedPrecondition, containing: "no chat template") {
      try await self.generate(.with {
        $0.model = "mamba-bytes"
        $0.messages = [.with { $0.role = "user"; $0.content = "hello" }]
      })
    }
    await assertRPCError(.invalidArgument, containing: "not several") {
      try await self.generate(.with {
        $0.model = "mamba-bytes"
        $0.prompt = "hello"
        $0.messages = [.with { $0.role = "user"; $0.content = "hello" }]
      })
    }
  }

  func testTextPromptWithoutTokenizerIsFailedPrecondition() async {
    await assertRPCError(.failedPrecondition, containing: "prompt_token_ids") {
      try await self.generate(.with {
        $0.model = "mamba-fixture"
        $0.prompt = "hello"
      })
    }
  }

  func testListShowLoadUnloadPs() async throws {
    try await zood.withClient { zoo, _ in
      let models = try await zoo.listModels(.init()).models
      XCTAssertEqual(Set(models.map(\.name)), ["mamba-fixture", "mamba2-fixture", "mamba-bytes"])
      XCTAssertTrue(models.allSatisfy { $0.available && $0.plugin == "statespace" })

      let show = try await zoo.showModel(.with { $0.model = "mamba2-fixture" })
      XCTAssertEqual(show.summary.modelType, "mamba2")
      XCTAssertEqual(show.modelType.modelType, "mamba2")
      XCTAssertEqual(show.modelType.capabilities.causality, .causal)
      XCTAssertTrue(show.modelType.capabilities.recurrentStep)
      XCTAssertEqual(show.modelType.capabilities.stateGrowth, .fixed)
      XCTAssertTrue(show.configJson.contains("\"num_heads\": 8"))
      let tensors = try FixtureTensors.read(FixtureLocation.folder("mamba2-hf").appendingPathComponent("model.safetensors"))
      XCTAssertEqual(show.parameters, UInt64(tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) }))

      let loaded = try await zoo.loadModel(.with {
        $0.model = "mamba2-fixture"
        $0.keepAliveSeconds = 0
      })
      XCTAssertEqual(loaded.model.name, "mamba2-fixture")
      XCTAssertGreaterThan(loaded.model.weightBytes, 0)
      let ps = try await zoo.listLoaded(.init())
      XCTAssertTrue(ps.models.contains { $0.name == "mamba2-fixture" && $0.expiresInSeconds == 0 })
      _ = try await zoo.unloadModel(.with { $0.model = "mamba2-fixture" })
      let after = try await zoo.listLoaded(.init())
      XCTAssertFalse(after.models.contains { $0.name == "mamba2-fixture" })
    }
    await assertRPCError(.notFound, containing: "not loaded") {
      try await zood.withClient { zoo, _ in try await zoo.unloadModel(.with { $0.model = "mamba2-fixture" }) }
    }
  }

  func testHealthServing() async throws {
    let status = try await zood.withClient { _, client in
      try await Grpc_Health_V1_Health.Client(wrapping: client).check(.with { $0.service = "zoo.v1.Zoo" }).status
    }
    XCTAssertEqual(status, .serving)
  }
}
