import Foundation
import XCTest
import ZooProto
import ZooRPC

/// Scoring through zood's public interfaces: Score, Generate's prompt_logprobs,
/// LoadModelWithProgress, and `zoo eval` / `zoo load` on the CLI. The expected
/// logprobs are the PyTorch models' own (float64), from scripts/score_fixtures.py.
final class ScoreTests: XCTestCase {
  struct Fixture: Decodable {
    struct Model: Decodable {
      let window: Int
      let logprobs: [Double]
    }
    let text: String
    let models: [String: Model]
  }

  /// zoo computes in float32 and the fixture in float64, so a token's logprob differs by
  /// float32 rounding through the layers: measured at most 9.3e-5 (Sessa; 8e-6 for the
  /// others). 1e-3 leaves a 10x margin, while a wrong context (a missed token, a reset
  /// state) moves logprobs by tenths.
  static let tolerance = 1e-3

  nonisolated(unsafe) static var shared = SharedZood()

  override class func setUp() {
    shared.start { z in
      let root = Paths.packageRoot.appendingPathComponent("models")
      for name in ["mamba-shakespeare", "sessa-shakespeare", "gam-shakespeare", "orchid-shakespeare", "llada-shakespeare"] {
        try z.addModel(from: root.appendingPathComponent(name), as: name)
      }
    }
  }

  override class func tearDown() { shared.stop() }

  static func fixture() throws -> Fixture {
    try JSONDecoder().decode(
      Fixture.self, from: Data(contentsOf: Paths.packageRoot.appendingPathComponent("Tests/Fixtures/scoring/heldout.json")))
  }

  func score(_ request: Zoo_V1_ScoreRequest) async throws -> [Zoo_V1_ScoreResponse] {
    try await Self.shared.zood.withClient { zoo, _ in
      try await zoo.score(request) { response in
        var all: [Zoo_V1_ScoreResponse] = []
        for try await m in response.messages { all.append(m) }
        return all
      }
    }
  }

  /// Every token's logprob equals PyTorch's, across zood's forward calls of 512 rows
  /// (Mamba, Sessa) and the position limits' windows (GAM 256, Orchid 96); progress
  /// messages count up to the totals.
  func testScoreMatchesPyTorchOnHeldOutText() async throws {
    let fixture = try Self.fixture()
    XCTAssertEqual(fixture.models.count, 4)
    for (name, expected) in fixture.models.sorted(by: { $0.key < $1.key }) {
      let messages = try await score(.with {
        $0.model = name
        $0.text = fixture.text
        $0.logprobs = 0
      })
      let last = try XCTUnwrap(messages.last)
      XCTAssertTrue(last.done, name)
      XCTAssertEqual(messages.dropLast().filter(\.done).count, 0, name)
      XCTAssertEqual(messages.map(\.scoredTokens), messages.map(\.scoredTokens).sorted(), "\(name): progress goes up")
      XCTAssertEqual(last.totalTokens, Int64(expected.logprobs.count), name)
      XCTAssertEqual(last.scoredTokens, Int64(expected.logprobs.count), name)
      XCTAssertEqual(last.scoredBytes, Int64(expected.logprobs.count), "\(name): byte-level, one byte per token")
      XCTAssertEqual(Int(last.window), expected.window, "\(name): the position limit's windows")
      let entries = messages.flatMap(\.tokens)
      XCTAssertEqual(entries.count, expected.logprobs.count + 1, name)
      XCTAssertFalse(entries[0].chosen.hasLogprob, "\(name): the first token has no context")
      XCTAssertEqual(entries.map(\.chosen.text).joined(), fixture.text, name)
      var worst = 0.0
      for (entry, want) in zip(entries.dropFirst(), expected.logprobs) {
        worst = max(worst, abs(Double(entry.chosen.logprob) - want))
      }
      XCTAssertLessThan(worst, Self.tolerance, "\(name): largest logprob difference from PyTorch")
      XCTAssertEqual(last.logprobSum, expected.logprobs.reduce(0, +), accuracy: 0.01, name)
    }
  }

  /// score_first_token puts the model's BOS (Mamba's, id 0) first; a model without one
  /// scores from the second token as before.
  func testScoreFirstTokenStartsFromTheModelsBOS() async throws {
    let text = "KING.\nWhat say you?"
    let withBOS = try await score(.with { $0.model = "mamba-shakespeare"; $0.text = text; $0.scoreFirstToken = true })
    XCTAssertEqual(withBOS.last?.scoredTokens, Int64(text.utf8.count))
    let plain = try await score(.with { $0.model = "mamba-shakespeare"; $0.text = text })
    XCTAssertEqual(plain.last?.scoredTokens, Int64(text.utf8.count - 1))
    let noBOS = try await score(.with { $0.model = "sessa-shakespeare"; $0.text = text; $0.scoreFirstToken = true })
    XCTAssertEqual(noBOS.last?.scoredTokens, Int64(text.utf8.count - 1))
  }

  /// A window asked for restarts the state: the same text scores worse in windows of 8
  /// than in one pass, and each window's tokens equal a separate score of that window.
  func testWindowsRestartTheState() async throws {
    let text = String(try Self.fixture().text.prefix(64))
    let whole = try await score(.with { $0.model = "mamba-shakespeare"; $0.text = text; $0.logprobs = 0 })
    let windowed = try await score(.with { $0.model = "mamba-shakespeare"; $0.text = text; $0.logprobs = 0; $0.window = 8 })
    XCTAssertLessThan(windowed.last!.logprobSum, whole.last!.logprobSum)
    // The second window feeds bytes 8..<16, so it scores bytes 9...16 from byte 8 on.
    let alone = try await score(.with { $0.model = "mamba-shakespeare"; $0.text = String(text.dropFirst(8).prefix(9)); $0.logprobs = 0 })
    let windowedEntries = windowed.flatMap(\.tokens)
    for (a, b) in zip(alone.flatMap(\.tokens).dropFirst(), windowedEntries[9...16]) {
      XCTAssertEqual(a.chosen.logprob, b.chosen.logprob, accuracy: 1e-5)
    }
  }

  /// prompt_logprobs on Generate: the first message scores the prompt exactly as Score
  /// does, and the generation that follows is the one without it.
  func testGeneratePromptLogprobsEqualScore() async throws {
    let z = try Self.shared.zood
    let prompt = "KING.\nWhat say"
    let options = Zoo_V1_GenerateOptions.with {
      $0.maxTokens = 12
      $0.temperature = 0
    }
    let plain = try await z.generate(.with { $0.model = "mamba-shakespeare"; $0.prompt = prompt; $0.options = options })
    let scored = try await z.generate(.with {
      $0.model = "mamba-shakespeare"
      $0.prompt = prompt
      $0.options = options
      $0.options.promptLogprobs = 3
    })
    let entries = scored.first?.promptLogprobs ?? []
    XCTAssertEqual(entries.count, prompt.utf8.count)
    XCTAssertTrue(entries.dropFirst().allSatisfy { $0.top.count == 3 })
    let byScore = try await score(.with { $0.model = "mamba-shakespeare"; $0.text = prompt; $0.logprobs = 3 }).flatMap(\.tokens)
    XCTAssertEqual(entries, byScore)
    XCTAssertEqual(scored.flatMap(\.tokenIds), plain.flatMap(\.tokenIds))
    XCTAssertEqual(scored.last?.stats.promptTokens, Int32(prompt.utf8.count))
  }

  func testScoreRefusesWhatItCannotScore() async throws {
    let z = try Self.shared.zood
    await assertRPCError(.failedPrecondition, containing: "not causal") {
      try await self.score(.with { $0.model = "llada-shakespeare"; $0.text = "KING." })
    }
    await assertRPCError(.invalidArgument, containing: "exactly one of text and token_ids") {
      try await self.score(.with { $0.model = "mamba-shakespeare"; $0.text = "KING."; $0.tokenIds = [1, 2] })
    }
    await assertRPCError(.invalidArgument, containing: "logprobs must be in 0...20") {
      try await self.score(.with { $0.model = "mamba-shakespeare"; $0.text = "KING."; $0.logprobs = 21 })
    }
    await assertRPCError(.invalidArgument, containing: "vocabulary of 256") {
      try await self.score(.with { $0.model = "mamba-shakespeare"; $0.tokenIds = [1, 300] })
    }
    await assertRPCError(.notFound, containing: "not found") {
      try await self.score(.with { $0.model = "no-such-model"; $0.text = "KING." })
    }
    await assertRPCError(.failedPrecondition, containing: "not causal") {
      try await z.generate(.with {
        $0.model = "llada-shakespeare"
        $0.prompt = "KING."
        $0.options.promptLogprobs = 0
      })
    }
  }

  /// LoadModelWithProgress: the weights' bytes as they are read, the plugin's reports
  /// while it builds the model, then the model; a loaded model answers at once.
  func testLoadWithProgressReportsTheStepsThenTheModel() async throws {
    let z = try Self.shared.zood
    let load: @Sendable () async throws -> [Zoo_V1_LoadModelProgress] = {
      try await z.withClient { zoo, _ in
        try await zoo.loadModelWithProgress(.with { $0.model = "orchid-shakespeare" }) { response in
          var all: [Zoo_V1_LoadModelProgress] = []
          for try await m in response.messages { all.append(m) }
          return all
        }
      }
    }
    let first = try await load()
    let reading = first.filter { $0.stage == "reading weights" }
    let weights = try FileManager.default.attributesOfItem(
      atPath: Paths.packageRoot.appendingPathComponent("models/orchid-shakespeare/model.safetensors").path)[.size] as! UInt64
    XCTAssertEqual(reading.last?.doneBytes, weights, "\(first)")
    XCTAssertEqual(reading.last?.totalBytes, weights)
    XCTAssertTrue(first.contains { $0.stage == "building the model" }, "\(first)")
    XCTAssertEqual(first.last?.model.name, "orchid-shakespeare")
    XCTAssertEqual(first.dropLast().filter(\.hasModel).count, 0)
    let again = try await load()
    XCTAssertEqual(again.count, 1)
    XCTAssertEqual(again.first?.model.name, "orchid-shakespeare")
  }

  /// `zoo eval` prints PyTorch's bits per byte (Sessa has no BOS, so every byte after
  /// the first is scored as in the fixture); `zoo load` not on a terminal prints plain
  /// progress lines.
  func testEvalAndLoadOnTheCLI() throws {
    let z = try Self.shared.zood
    let fixture = try Self.fixture()
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-eval-\(UUID().uuidString.prefix(8)).txt")
    try Data(fixture.text.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let zoo = try Paths.product("zoo").path
    let eval = try runProcess(zoo, ["eval", "sessa-shakespeare", file.path, "--json", "--socket", z.socket])
    XCTAssertEqual(eval.status, 0, eval.stderr)
    let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
    let expected = try XCTUnwrap(fixture.models["sessa-shakespeare"]).logprobs
    let bitsPerByte = -expected.reduce(0, +) / log(2) / Double(expected.count)
    XCTAssertEqual(try XCTUnwrap(result["bits_per_byte"] as? Double), bitsPerByte, accuracy: 1e-4)
    XCTAssertEqual(result["scored_tokens"] as? Int, expected.count)

    let text = try runProcess(zoo, ["eval", "sessa-shakespeare", file.path, "--socket", z.socket])
    XCTAssertTrue(text.stdout.contains(String(format: "bits per byte   %.4f", bitsPerByte)), text.stdout)

    let load = try runProcess(zoo, ["load", "gam-shakespeare", "--socket", z.socket])
    XCTAssertEqual(load.status, 0, load.stderr)
    XCTAssertTrue(load.stdout.contains("reading weights  100%"), load.stdout)
    XCTAssertTrue(load.stdout.contains("loaded gam-shakespeare"), load.stdout)
    XCTAssertFalse(load.stdout.contains("\r"), "no redraws when stdout is not a terminal: \(load.stdout.debugDescription)")
    let quiet = try runProcess(zoo, ["load", "gam-shakespeare", "--quiet", "--socket", z.socket])
    XCTAssertEqual(quiet.stdout, "")
  }
}
