import Foundation
import GRPCCore
import XCTest
import ZooProto
import ZooTestSupport

/// The decoder contract of ABI 1.2 through gRPC, with the test plugin of
/// Tests/Fixtures/contract-plugin: tokens placed out of order and inserted in the
/// middle become the same committed text as `ar`'s, stop strings and EOS apply to
/// committed text only, steps report every placement, decoder options are checked
/// against their declarations, decoders that do not fit a model are refused before
/// they run, and a middleware rewrites a request with the host's tokenize, detokenize
/// and embed services.
final class ContractTests: XCTestCase {
  static let shared = SharedZood()
  nonisolated(unsafe) static var miniLMSkip: XCTSkip?

  override class func setUp() {
    super.setUp()
    shared.start { z in
      try FileManager.default.copyItem(
        at: try Paths.product("libZooContractFixtures.so"),
        to: z.plugins.appendingPathComponent("libZooContractFixtures.so"))
      // The Mamba fixture's weights with the byte tokenizer: text prompts and stop strings.
      try z.addModel(
        from: FixtureLocation.folder("mamba-hf"), as: "bytes", zooJSON: #"{"tokenizer": "bytes", "eos_token_ids": []}"#)
      try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "bytes-eos", zooJSON: #"{"tokenizer": "bytes"}"#)
      do { try z.linkModel(try Paths.miniLM(), as: "minilm") } catch let skip as XCTSkip { miniLMSkip = skip }
    }
  }

  override class func tearDown() {
    shared.stop()
    super.tearDown()
  }

  var zood: ZoodInstance {
    get throws { try Self.shared.zood }
  }

  static func request(
    _ decoder: String, prompt: String = "The zoo", tokens: Int32 = 12, stop: [String] = [], options: [String: String] = [:],
    steps: Bool = false, model: String = "bytes"
  ) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = model
      $0.prompt = prompt
      $0.options = .with {
        $0.decoder = decoder
        $0.maxTokens = tokens
        $0.temperature = 0
        $0.stop = stop
        $0.decoderOptions = options
        $0.reportSteps = steps
      }
    }
  }

  /// Text, ids and the last message of one generation.
  func run(_ request: Zoo_V1_GenerateRequest) async throws -> (text: String, ids: [Int32], last: Zoo_V1_GenerateResponse, all: [Zoo_V1_GenerateResponse]) {
    let all = try await zood.generate(request)
    let last = try XCTUnwrap(all.last)
    XCTAssertTrue(last.done)
    return (all.map(\.text).joined(), all.flatMap(\.tokenIds), last, all)
  }

  /// Out-of-order SETs and middle INSERTs commit exactly `ar`'s text, token ids and
  /// counts, and each costs the same forward passes (counted by zood, not the decoder).
  func testOutOfOrderAndInsertionDecodersCommitTheLeftToRightText() async throws {
    let ar = try await run(Self.request("ar"))
    XCTAssertEqual(ar.ids.count, 12)
    XCTAssertEqual(ar.last.finishReason, .length)
    // ar: the prefill, then one step per token but the last.
    XCTAssertEqual(ar.last.stats.forwardPasses, 12)
    for (decoder, options) in [
      ("fixture-scatter", ["order": "odd_even"]), ("fixture-scatter", ["order": "reverse"]), ("fixture-insert", [:]),
    ] {
      let other = try await run(Self.request(decoder, options: options))
      XCTAssertEqual(other.ids, ar.ids, "\(decoder) \(options) token ids vs ar")
      XCTAssertEqual(other.text, ar.text, "\(decoder) \(options)")
      XCTAssertEqual(other.last.finishReason, .length)
      XCTAssertEqual(other.last.stats.generatedTokens, 12)
      XCTAssertEqual(other.last.stats.forwardPasses, 12, "\(decoder): prefill plus 11 steps")
    }
  }

  /// With report_steps, every placement arrives in the decoder's order, and no message
  /// carries text or ids past what the steps so far have committed.
  func testStepsReportEveryPlacementAndTextWaitsForCommits() async throws {
    let ar = try await run(Self.request("ar", tokens: 9))
    for (decoder, options, expectedPositions) in [
      ("fixture-scatter", ["order": "odd_even"], [1, 3, 5, 7, 0, 2, 4, 6, 8]),
      ("fixture-scatter", ["order": "reverse"], Array((0..<9).reversed())),
      ("fixture-insert", [:], [0, 1, 1, 2, 3, 4, 5, 6, 7]),
    ] {
      let result = try await run(Self.request(decoder, tokens: 9, options: options, steps: true))
      let steps = result.all.flatMap(\.steps)
      XCTAssertEqual(steps.map { Int($0.position) }, expectedPositions, "\(decoder) \(options)")
      XCTAssertEqual(Set(steps.map(\.op)), [decoder == "fixture-insert" ? .insert : .set])
      XCTAssertEqual(steps.map(\.token).sorted(), ar.ids.sorted())
      var released = 0
      for message in result.all {
        released += message.tokenIds.count
        if let committed = message.steps.last?.committed {
          XCTAssertEqual(released, Int(committed), "\(decoder): ids released = committed positions")
        }
      }
      // Reverse order commits nothing until position 0 is set, last.
      if options["order"] == "reverse" {
        XCTAssertEqual(result.all.dropLast(2).flatMap(\.tokenIds), [])
      }
      XCTAssertEqual(result.ids, ar.ids)
      XCTAssertEqual(result.text, ar.text)
    }
  }

  /// `ar` with its own steps: appends, each committing the text so far.
  func testLeftToRightStepsAreAppends() async throws {
    let result = try await run(Self.request("ar", tokens: 5, steps: true))
    let steps = result.all.flatMap(\.steps)
    XCTAssertEqual(steps.map(\.op), Array(repeating: .append, count: 5))
    XCTAssertEqual(steps.map(\.position), [0, 1, 2, 3, 4])
    XCTAssertEqual(steps.map(\.committed), [1, 2, 3, 4, 5])
  }

  /// A stop string is matched on committed text: the out-of-order decoders stop where
  /// `ar` stops, with the same text, even though they placed tokens past it first.
  func testStopStringsApplyToCommittedText() async throws {
    // The fixture's random weights repeat a byte, then switch to another: stop there.
    let full = try await run(Self.request("ar", prompt: "1 2 3", tokens: 24))
    let characters = Array(full.text)
    let cut = try XCTUnwrap(characters.firstIndex { $0 != characters[0] }, "the fixture's text changes character")
    XCTAssertGreaterThan(cut, 4)
    XCTAssertLessThan(cut, 23, "tokens follow the stop string, placed before it is committed")
    let stop = String(characters[cut])
    XCTAssertTrue(stop.unicodeScalars.allSatisfy(\.isASCII))
    let expected = String(characters[..<cut])
    for (decoder, options) in [("ar", [:]), ("fixture-scatter", ["order": "reverse"]), ("fixture-insert", [:])] {
      let result = try await run(Self.request(decoder, prompt: "1 2 3", tokens: 24, stop: [stop], options: options))
      XCTAssertEqual(result.text, expected, "\(decoder) \(options)")
      XCTAssertEqual(result.last.finishReason, .stop, "\(decoder)")
    }
  }

  /// An end-of-sequence token in the committed text ends the request there for every
  /// decoder (zood decides, not the decoder): the fixture model's EOS is id 0.
  func testCommittedEndOfSequenceEndsEveryDecoderAlike() async throws {
    // A prompt of token ids whose greedy continuation the decoders share; with the
    // model's EOS (0) in effect, whichever position holds it ends the text.
    let plain = try await run(Self.request("ar", tokens: 16, model: "bytes"))
    let eos = try await run(Self.request("ar", tokens: 16, model: "bytes-eos"))
    if let cut = plain.ids.firstIndex(of: 0) {
      XCTAssertEqual(eos.ids, Array(plain.ids[..<cut]))
      XCTAssertEqual(eos.last.finishReason, .eos)
    } else {
      XCTAssertEqual(eos.ids, plain.ids)
    }
    for decoder in ["fixture-scatter", "fixture-insert"] {
      let other = try await run(Self.request(decoder, tokens: 16, model: "bytes-eos"))
      XCTAssertEqual(other.ids, eos.ids, decoder)
      XCTAssertEqual(other.last.finishReason, eos.last.finishReason, decoder)
    }
  }

  /// Decoder options are checked against the decoder's declared fields.
  func testDecoderOptionsAreValidatedAgainstTheDeclaration() async throws {
    let z = try zood
    await assertRPCError(.invalidArgument, containing: "one of odd_even, reverse") {
      try await z.generate(Self.request("fixture-scatter", options: ["order": "sideways"]))
    }
    await assertRPCError(.invalidArgument, containing: "has no option 'speed'; it takes order") {
      try await z.generate(Self.request("fixture-scatter", options: ["speed": "2"]))
    }
    await assertRPCError(.invalidArgument, containing: "decoder 'ar' has no option 'order'; it takes no options") {
      try await z.generate(Self.request("ar", options: ["order": "reverse"]))
    }
  }

  /// zood refuses a decoder that needs what the model lacks, naming both, before the
  /// decoder runs.
  func testADecoderThatDoesNotFitTheModelIsRefusedBeforeItRuns() async throws {
    let z = try zood
    await assertRPCError(
      .failedPrecondition, containing: "decoder 'fixture-stop-head' cannot run on model 'bytes': the decoder needs an output head 'stop'"
    ) {
      try await z.generate(Self.request("fixture-stop-head"))
    }
  }

  /// The model's facts reach clients: special tokens from config.json, mask kinds.
  func testLoadedModelsReportSpecialTokens() async throws {
    let z = try zood
    _ = try await z.generate(Self.request("ar", tokens: 1, model: "bytes-eos"))
    let loaded = try await z.withClient { zoo, _ in try await zoo.listLoaded(.init()) }
    let facts = try XCTUnwrap(loaded.models.first { $0.name == "bytes-eos" }).facts
    let config = try JSONSerialization.jsonObject(
      with: Data(contentsOf: FixtureLocation.folder("mamba-hf").appendingPathComponent("config.json"))) as! [String: Any]
    XCTAssertEqual(facts.bosTokenID, Int32((config["bos_token_id"] as? Int) ?? -1))
    XCTAssertEqual(facts.padTokenID, Int32((config["pad_token_id"] as? Int) ?? -1))
    XCTAssertEqual(facts.maskTokenID, -1)
    XCTAssertEqual(facts.maskKinds, ["causal"])
  }

  /// A middleware rewrites the request through the host's services: the result is what
  /// the same request written by hand gives.
  func testMiddlewareRewritesTheRequestWithHostServices() async throws {
    var rewritten = Self.request("ar", prompt: "The zoo")
    rewritten.middleware = [.with {
      $0.name = "fixture-rewrite"
      $0.options = ["suffix": " is open"]
    }]
    let viaMiddleware = try await run(rewritten)
    let byHand = try await run(Self.request("ar", prompt: "The zoo is open"))
    XCTAssertEqual(viaMiddleware.ids, byHand.ids, "middleware vs the rewritten prompt")
    XCTAssertEqual(viaMiddleware.last.stats.promptTokens, byHand.last.stats.promptTokens)

    let z = try zood
    var unknown = Self.request("ar")
    unknown.middleware = [.with { $0.name = "nope" }]
    await assertRPCError(.invalidArgument, containing: "unknown middleware 'nope'; available: fixture-rewrite") {
      try await z.generate(unknown)
    }
    var badOption = Self.request("ar")
    badOption.middleware = [.with {
      $0.name = "fixture-rewrite"
      $0.options = ["colour": "red"]
    }]
    await assertRPCError(.invalidArgument, containing: "middleware 'fixture-rewrite' has no option 'colour'") {
      try await z.generate(badOption)
    }
  }

  /// The host's embed service: the middleware appends the length of the prompt's
  /// MiniLM embedding, as the Embed RPC reports it.
  func testMiddlewareEmbedsThroughTheHost() async throws {
    if let skip = Self.miniLMSkip { throw skip }
    let z = try zood
    let dimensions = try await z.withClient { zoo, _ in
      try await zoo.embed(.with {
        $0.model = "minilm"
        $0.texts = ["The zoo"]
      }).dimensions
    }
    var request = Self.request("ar", prompt: "The zoo")
    request.middleware = [.with {
      $0.name = "fixture-rewrite"
      $0.options = ["suffix": " has", "embed_model": "minilm"]
    }]
    let viaMiddleware = try await run(request)
    let byHand = try await run(Self.request("ar", prompt: "The zoo has \(dimensions)"))
    XCTAssertEqual(viaMiddleware.ids, byHand.ids, "middleware with embed vs the rewritten prompt")
    XCTAssertEqual(viaMiddleware.last.stats.promptTokens, byHand.last.stats.promptTokens)
  }

  /// `zoo generate --option KEY=VALUE --steps` reaches the decoder and prints each step.
  func testCLIDecoderOptionsAndSteps() async throws {
    let z = try zood
    let ar = try await run(Self.request("ar", tokens: 6))
    let result = try runProcess(
      try Paths.product("zoo").path,
      ["generate", "bytes", "The zoo", "--decoder", "fixture-scatter", "--option", "order=reverse", "--steps",
       "--max-tokens", "6", "--temperature", "0", "--socket", z.socket])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, ar.text + "\n")
    XCTAssertTrue(result.stderr.contains("step set position 5 token \(ar.ids[5])"), result.stderr)
    XCTAssertTrue(result.stderr.contains("step set position 0 token \(ar.ids[0])"), result.stderr)
    let bad = try runProcess(
      try Paths.product("zoo").path,
      ["generate", "bytes", "x", "--decoder", "fixture-scatter", "--option", "order", "--socket", z.socket])
    XCTAssertNotEqual(bad.status, 0)
    XCTAssertTrue(bad.stderr.contains("--option takes KEY=VALUE"), bad.stderr)
  }

  /// `zoo plugin check` loads a plugin with zood's loader in a child process.
  func testPluginCheck() throws {
    let zoo = try Paths.product("zoo").path
    let good = try runProcess(zoo, ["plugin", "check", try Paths.product("libZooContractFixtures.so").path])
    XCTAssertEqual(good.status, 0, good.stderr)
    XCTAssertTrue(good.stdout.contains("READY: contract-fixtures"), good.stdout)
    XCTAssertTrue(good.stdout.contains("decoder fixture-scatter"), good.stdout)
    XCTAssertTrue(good.stdout.contains("middleware fixture-rewrite"), good.stdout)
    let notALibrary = try runProcess(zoo, ["plugin", "check", FixtureLocation.folder("mamba-hf").appendingPathComponent("config.json").path])
    XCTAssertEqual(notALibrary.status, 1)
    XCTAssertTrue(notALibrary.stdout.contains("FAILED: not a loadable shared library"), notALibrary.stdout)
  }
}
