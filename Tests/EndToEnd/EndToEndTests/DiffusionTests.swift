import Foundation
import GRPCCore
import XCTest
import ZooProto
import ZooTestSupport

/// The masked-diffusion decoders through zood on LLaDA's layout:
/// token-for-token parity with the official generate functions
/// (Tests/Fixtures/llada-tiny/decodes.json, made by running ML-GSAI/LLaDA, NVlabs/Fast-dLLM,
/// shuyingte/DCD and vhicrgit/Window-Diffusion on the fixture's weights), forward-pass counts, option checks,
/// refusals of models a decoder cannot run, and cancellation.
final class DiffusionTests: XCTestCase {
  static let shared = SharedZood()

  override class func setUp() {
    super.setUp()
    // One request per model at a time: a cancel test then proves its slot came back.
    shared.start(arguments: ["--parallel", "1"]) { z in
      try z.addModel(from: FixtureLocation.folder("llada-tiny"), as: "llada-tiny")
      try z.addModel(from: FixtureLocation.folder("tiny-llama"), as: "llama-tiny")
    }
  }

  override class func tearDown() {
    shared.stop()
    super.tearDown()
  }

  var zood: ZoodInstance {
    get throws { try Self.shared.zood }
  }

  struct Case: Decodable {
    let name: String
    let decoder: String
    let options: [String: String]
    let max_tokens: Int32
    let prompt: [Int32]
    let expected: [Int32]
    let nfe: Int
    let idle_nfe: Int
  }

  struct Decodes: Decodable {
    let eos_token_id: Int32
    let cases: [Case]
  }

  static func request(
    _ decoder: String, prompt: [Int32], tokens: Int32, options: [String: String] = [:], steps: Bool = false,
    model: String = "llada-tiny"
  ) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = model
      $0.promptTokenIds = prompt
      $0.options = .with {
        $0.decoder = decoder
        $0.maxTokens = tokens
        $0.temperature = 0
        $0.decoderOptions = options
        $0.reportSteps = steps
      }
    }
  }

  func run(_ request: Zoo_V1_GenerateRequest) async throws -> (ids: [Int32], last: Zoo_V1_GenerateResponse, all: [Zoo_V1_GenerateResponse]) {
    let all = try await zood.generate(request)
    let last = try XCTUnwrap(all.last)
    XCTAssertTrue(last.done)
    return (all.flatMap(\.tokenIds), last, all)
  }

  /// Every case of the official runs: zood's tokens equal the official ones up to the
  /// first EOS (zood ends there; the official functions fill the whole length), and
  /// without an EOS the forward passes equal the official model calls, less the calls
  /// that commit nothing (Fast-dLLM's cached step after a block its full forward
  /// finished), with guidance's two passes counted apart (LLaDA batches them).
  func testDecodersMatchTheOfficialCode() async throws {
    let url = try FixtureLocation.folder("llada-tiny").appendingPathComponent("decodes.json")
    let decodes = try JSONDecoder().decode(Decodes.self, from: Data(contentsOf: url))
    XCTAssertGreaterThanOrEqual(decodes.cases.count, 10)
    for c in decodes.cases {
      let result = try await run(Self.request(c.decoder, prompt: c.prompt, tokens: c.max_tokens, options: c.options))
      if let eos = c.expected.firstIndex(of: decodes.eos_token_id) {
        XCTAssertEqual(result.ids, Array(c.expected[..<eos]), c.name)
        XCTAssertEqual(result.last.finishReason, .eos, c.name)
      } else {
        XCTAssertEqual(result.ids, c.expected, c.name)
        XCTAssertEqual(result.last.finishReason, .length, c.name)
        let passes = (c.nfe - c.idle_nfe) * (Double(c.options["cfg_scale"] ?? "0")! > 0 ? 2 : 1)
        XCTAssertEqual(Int(result.last.stats.forwardPasses), passes, "\(c.name): forward passes")
      }
    }
  }

  /// LLaDA with one token per step over one block is Fast-dLLM with a threshold no
  /// confidence reaches and no cache: both commit the most confident mask each step.
  func testLLaDAOneTokenPerStepIsFastDLLMWithoutThreshold() async throws {
    for prompt: [Int32] in [[6, 46, 47, 29, 4, 30], [40, 41, 23, 55, 18, 25, 15, 9, 60], [1, 2, 3]] {
      let llada = try await run(Self.request("llada", prompt: prompt, tokens: 12, options: ["steps": "12", "block_length": "12"]))
      let fast = try await run(
        Self.request("fast-dllm", prompt: prompt, tokens: 12, options: ["threshold": "1.5", "block_length": "0", "cache": "none"]))
      XCTAssertEqual(llada.ids, fast.ids, "\(prompt)")
      XCTAssertEqual(llada.last.stats.forwardPasses, fast.last.stats.forwardPasses, "\(prompt)")
    }
  }

  /// Steps report SETs at generation positions; the ids released never pass the
  /// committed mark, and the final ids are the decided prefix.
  func testStepsAreSetsAndTextWaitsForTheDecidedPrefix() async throws {
    let result = try await run(
      Self.request("fast-dllm", prompt: [40, 41, 23, 55, 18, 25, 15, 9, 60], tokens: 16, options: ["cache": "dual", "block_length": "8"], steps: true))
    let steps = result.all.flatMap(\.steps)
    XCTAssertFalse(steps.isEmpty)
    XCTAssertEqual(Set(steps.map(\.op)), [.set])
    XCTAssertTrue(steps.allSatisfy { (0..<16).contains($0.position) })
    var released = 0
    for message in result.all {
      released += message.tokenIds.count
      if let committed = message.steps.last?.committed { XCTAssertLessThanOrEqual(released, Int(committed)) }
    }
    XCTAssertEqual(Set(steps.map(\.position)).count, steps.count, "each position is set once")
  }

  /// Options are checked against each decoder's declaration (or by the decoder, for
  /// rules across options), refused with a sentence naming the option.
  func testBadOptionsAreRefusedNamingTheOption() async throws {
    let prompt: [Int32] = [1, 2, 3]
    for (decoder, options, option) in [
      ("llada", ["block_length": "5"], "block_length"),
      ("llada", ["steps": "3", "block_length": "8"], "steps"),
      ("llada", ["remasking": "sideways"], "remasking"),
      ("fast-dllm", ["cache": "triple"], "cache"),
      ("fast-dllm", ["threshold": "high"], "threshold"),
      ("dcd", ["cache": "dual-delayed"], "cache"),
      ("dcd", ["s_init": "0"], "s_init"),
      ("mdlm", ["eps": "0.9"], "eps"),
      ("window-diffusion", ["active_tokens": "2", "steps": "4"], "active_tokens"),
      ("dcd", ["s_init": "100000"], "s_init"),
      ("dcd", ["cache": "dual-delay99999999999999999"], "cache"),
      ("llada", ["cfg_scale": "1000"], "cfg_scale"),
      ("llada", ["no_such_option": "1"], "no_such_option"),
    ] {
      await assertRPCError(.invalidArgument, containing: option) {
        _ = try await self.zood.generate(Self.request(decoder, prompt: prompt, tokens: 16, options: options))
      }
    }
  }

  /// A diffusion decoder on a causal-only model, and `ar` on a bidirectional-only one,
  /// are refused before they run, naming both; `zoo show` lists what each can run.
  func testDecodersThatDoNotFitAModelAreRefused() async throws {
    await assertRPCError(.failedPrecondition, containing: "'llama-tiny'") {
      _ = try await self.zood.generate(Self.request("llada", prompt: [1, 2], tokens: 4, model: "llama-tiny"))
    }
    await assertRPCError(.failedPrecondition, containing: "decoder 'ar' cannot run on model 'llada-tiny'") {
      _ = try await self.zood.generate(Self.request("ar", prompt: [1, 2], tokens: 4))
    }
    let show = try await zood.withClient { zoo, _ in try await zoo.showModel(.with { $0.model = "llada-tiny" }) }
    XCTAssertEqual(show.decoders, ["dcd", "fast-dllm", "llada", "mdlm", "window-diffusion"])
    let llama = try await zood.withClient { zoo, _ in try await zoo.showModel(.with { $0.model = "llama-tiny" }) }
    XCTAssertTrue(llama.decoders.contains("ar"))
    XCTAssertFalse(llama.decoders.contains("llada"))
  }

  /// MDLM's sampler draws which masks to reveal: the same seed gives the same tokens,
  /// every slot is filled, and it never writes the mask token.
  func testMDLMIsReproducibleAndFillsEverySlot() async throws {
    func sample(_ seed: UInt64) async throws -> [Int32] {
      var request = Self.request("mdlm", prompt: [40, 41, 23], tokens: 12, options: ["steps": "6"])
      request.options.temperature = 1
      request.options.seed = seed
      return try await run(request).ids
    }
    let a = try await sample(7)
    let again = try await sample(7)
    XCTAssertEqual(a, again)
    XCTAssertFalse(a.contains(63))
  }

  /// Cancelling a long diffusion request ends it within a step and frees the model's
  /// only slot (zood runs one request per model in tests).
  func testCancelledDiffusionRequestFreesItsSlot() async throws {
    let received = try await zood.withClient { zoo, _ in
      try await zoo.generate(Self.request("llada", prompt: [1, 2, 3], tokens: 120, options: ["steps": "120"], steps: true)) {
        response in
        var n = 0
        for try await _ in response.messages {
          n += 1
          if n == 2 { break }  // returning cancels the RPC
        }
        return n
      }
    }
    XCTAssertEqual(received, 2)
    var active: Int32 = -1
    for _ in 0..<100 {
      let loaded = try await zood.withClient { zoo, _ in try await zoo.listLoaded(.init()) }
      active = loaded.models.first { $0.name == "llada-tiny" }?.activeRequests ?? 0
      if active == 0 { break }
      try await Task.sleep(for: .milliseconds(50))
    }
    XCTAssertEqual(active, 0, "the cancelled request still holds its slot")
    let after = try await run(Self.request("fast-dllm", prompt: [1, 2, 3], tokens: 4))
    XCTAssertTrue(after.last.done)
  }

  /// The CLI: `zoo plugins` lists the five decoders with their options; `zoo generate
  /// --show-steps` draws the canvas after every step (one line per step when stderr is
  /// not a terminal), undecided positions as ░, then prints the generated ids.
  func testCLIListsDecodersAndDrawsSteps() throws {
    let socket = try zood.socket
    func zoo(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
      try runProcess(try Paths.product("zoo").path, args + ["--socket", socket])
    }
    let plugins = try zoo(["plugins"])
    XCTAssertEqual(plugins.status, 0, plugins.stderr)
    for line in [
      "mdlm", "llada", "fast-dllm", "dcd", "window-diffusion", "cache=dual|none|prefix", "remasking=low_confidence|random",
      "window_tokens=64", "s_init=32", "refresh_count=16",
    ] {
      XCTAssertTrue(plugins.stdout.contains(line), "\(line) in\n\(plugins.stdout)")
    }

    let drawn = try zoo([
      "generate", "llada-tiny", "--token-ids", "6,46,47,29,4,30", "--max-tokens", "16", "--temperature", "0",
      "--decoder", "llada", "--option", "steps=16", "--option", "block_length=16", "--show-steps",
    ])
    XCTAssertEqual(drawn.status, 0, drawn.stderr)
    let frames = drawn.stderr.split(separator: "\n").map(String.init)
    XCTAssertEqual(frames.count, 16, drawn.stderr)
    XCTAssertEqual(frames.first?.filter { $0 == "░" }.count, 15)
    XCTAssertEqual(frames.last?.filter { $0 == "░" }.count, 0)
    // One token per step: each frame has one fewer undecided position than the last.
    XCTAssertEqual(frames.map { $0.filter { $0 == "░" }.count }, Array((0..<16).reversed()))
    let official: [Int32] = [13, 5, 28, 28, 29, 29, 57, 28, 58, 24, 35, 24, 13, 29, 8, 8]  // decodes.json llada-p0-g16-s16-b16
    XCTAssertEqual(drawn.stdout.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, official)
    XCTAssertEqual(frames.last, official.map { "[\($0)]" }.joined())
  }
}
