import Foundation
import GRPCCore
import XCTest
import ZooProto
import ZooTestSupport

/// The `ilm` decoder through zood: token-for-token parity with the official ILM predictor
/// (Tests/Fixtures/ilm-tiny/cases.json, made by running dhruvdcoder/ILM's
/// ILMPredictorWithStoppingClassification on the fixture's weights) for continuation,
/// unconditional generation, infilling with constrained templates and joint sampling;
/// template refusals; and models the decoder cannot run.
final class InsertionTests: XCTestCase {
  static let shared = SharedZood()

  override class func setUp() {
    super.setUp()
    shared.start { z in
      try z.addModel(from: FixtureLocation.folder("ilm-tiny"), as: "ilm-tiny")
      try z.addModel(from: FixtureLocation.folder("llada-tiny"), as: "llada-tiny")
      // The same weights with a byte tokenizer, for the CLI's text templates.
      try z.addModel(from: FixtureLocation.folder("ilm-tiny"), as: "ilm-tiny-bytes", zooJSON: #"{"tokenizer": "bytes"}"#)
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
    let kind: String
    let input_tokens: [Int32]
    let constraint: [Bool]
    let stopping_threshold: Double
    let max_steps: Int
    let joint: Bool
    let output_tokens: [Int32]
    let num_inserted: Int
    let stopped_by_stop_head: Bool
  }

  struct Cases: Decodable { let decode: [Case] }

  /// The case's [CLS][BOS] input as a request: continuation as prompt ids; templates
  /// (unconditional, infill) as segments cut wherever the official constraint allows an
  /// insertion (constraint false on a token: a gap right after it; on BOS: one at the start).
  static func request(_ c: Case) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = "ilm-tiny"
      let body = Array(c.input_tokens.dropFirst(2))
      if c.kind == "continuation" {
        $0.promptTokenIds = body
      } else {
        var segments = [Zoo_V1_PromptSegment()]
        if !c.constraint[1] {
          segments[0].gapAfter = true
          segments.append(Zoo_V1_PromptSegment())
        }
        for (k, token) in body.enumerated() {
          segments[segments.count - 1].tokenIds.append(token)
          if !c.constraint[2 + k] {
            segments[segments.count - 1].gapAfter = true
            segments.append(Zoo_V1_PromptSegment())
          }
        }
        $0.segments = segments
      }
      $0.options = .with {
        $0.decoder = "ilm"
        $0.maxTokens = 64
        $0.temperature = 0
        $0.reportSteps = true
        // The official predictor suppresses PAD, CLS, BOS, EOS and MASK (id 4).
        $0.decoderOptions = [
          "stop_threshold": "\(c.stopping_threshold)", "max_steps": "\(c.max_steps)", "joint": "\(c.joint)",
          "suppress": "4",
        ]
      }
    }
  }

  func testDecoderMatchesTheOfficialPredictor() async throws {
    let url = try FixtureLocation.folder("ilm-tiny").appendingPathComponent("cases.json")
    let cases = try JSONDecoder().decode(Cases.self, from: Data(contentsOf: url)).decode
    XCTAssertEqual(Set(cases.map(\.kind)), ["continuation", "unconditional", "infill"])
    for c in cases {
      let all = try await zood.generate(Self.request(c))
      let last = try XCTUnwrap(all.last)
      let ids = all.flatMap(\.tokenIds)
      let template = c.kind == "continuation" ? 0 : c.input_tokens.count - 2
      // Continuation returns what was added; a template comes back whole.
      let expected = Array(c.output_tokens.dropFirst(2 + (c.kind == "continuation" ? c.input_tokens.count - 2 : 0)))
      XCTAssertEqual(ids, expected, c.name)
      XCTAssertEqual(Int(last.stats.generatedTokens), c.num_inserted, c.name)
      XCTAssertEqual(last.finishReason, c.stopped_by_stop_head ? .eos : .length, c.name)
      // One forward per insertion, and one more that says stop (the official loop adds a wasted one).
      XCTAssertEqual(Int(last.stats.forwardPasses), c.num_inserted + (c.stopped_by_stop_head ? 1 : 0), c.name)

      // Replaying the steps (after the template's own) rebuilds the text.
      let steps = all.flatMap(\.steps)
      var text: [Int32] = []
      for step in steps {
        if step.op == .set {
          text.append(step.token)
        } else {
          XCTAssertEqual(step.op, .insert, c.name)
          text.insert(step.token, at: Int(step.position))
        }
      }
      XCTAssertEqual(steps.count, template + c.num_inserted, c.name)
      XCTAssertEqual(text, expected, c.name)
    }
  }

  func testTextTemplateIsFilledAndComesBackWhole() async throws {
    // ilm-tiny has no tokenizer; a bytes tokenizer makes its ids text (ids 5-31 are
    // control bytes, so compare ids).
    let request = Zoo_V1_GenerateRequest.with {
      $0.model = "ilm-tiny"
      $0.segments = [.with { $0.tokenIds = [8, 17]; $0.gapAfter = true }, .with { $0.tokenIds = [13, 21] }]
      $0.options = .with {
        $0.decoder = "ilm"
        $0.temperature = 0
        $0.maxTokens = 3
        $0.decoderOptions = ["stop_threshold": "1"]
      }
    }
    let all = try await zood.generate(request)
    let ids = all.flatMap(\.tokenIds)
    XCTAssertEqual(ids.count, 4 + 3)
    XCTAssertEqual(Array(ids.prefix(2)), [8, 17])
    XCTAssertEqual(Array(ids.suffix(2)), [13, 21])
    XCTAssertEqual(all.last?.finishReason, .length)
    XCTAssertEqual(all.last?.stats.generatedTokens, 3)
  }

  func testBadTemplatesAreRefusedWithASentence() async throws {
    func template(_ segments: [Zoo_V1_PromptSegment], decoder: String = "ilm", model: String = "ilm-tiny")
      -> Zoo_V1_GenerateRequest
    {
      .with {
        $0.model = model
        $0.segments = segments
        $0.options = .with { $0.decoder = decoder }
      }
    }
    let zood = try self.zood
    await assertRPCError(.invalidArgument, containing: "template is empty") {
      try await zood.generate(template([Zoo_V1_PromptSegment()]))
    }
    await assertRPCError(.invalidArgument, containing: "no gap") {
      try await zood.generate(template([.with { $0.tokenIds = [7, 8] }]))
    }
    await assertRPCError(.invalidArgument, containing: "two gaps in a row") {
      try await zood.generate(template([.with { $0.tokenIds = [7]; $0.gapAfter = true }, .with { $0.gapAfter = true }]))
    }
    await assertRPCError(.invalidArgument, containing: "both text and token_ids") {
      try await zood.generate(template([.with { $0.tokenIds = [7]; $0.text = "x"; $0.gapAfter = true }]))
    }
    await assertRPCError(.invalidArgument, containing: "not several") {
      var r = template([.with { $0.tokenIds = [7]; $0.gapAfter = true }])
      r.promptTokenIds = [5]
      return try await zood.generate(r)
    }
    // A decoder that only continues cannot fill gaps, and says which one can.
    await assertRPCError(.invalidArgument, containing: "use ilm") {
      try await zood.generate(template([.with { $0.tokenIds = [7]; $0.gapAfter = true }], decoder: "llada", model: "llada-tiny"))
    }
  }

  func testModelsWithoutAStopHeadAreRefusedAndILMIsNotADiffusionModel() async throws {
    let zood = try self.zood
    await assertRPCError(.failedPrecondition, containing: "decoder 'ilm' cannot run on model 'llada-tiny'") {
      try await zood.generate(.with {
        $0.model = "llada-tiny"
        $0.promptTokenIds = [5, 6]
        $0.options = .with { $0.decoder = "ilm" }
      })
    }
    await assertRPCError(.failedPrecondition, containing: "'stop'") {
      try await zood.generate(.with {
        $0.model = "llada-tiny"
        $0.promptTokenIds = [5, 6]
        $0.options = .with { $0.decoder = "ilm" }
      })
    }
    await assertRPCError(.failedPrecondition, containing: "mask token") {
      try await zood.generate(.with {
        $0.model = "ilm-tiny"
        $0.promptTokenIds = [5, 6]
        $0.options = .with { $0.decoder = "llada" }
      })
    }
    await assertRPCError(.invalidArgument, containing: "suppress") {
      try await zood.generate(.with {
        $0.model = "ilm-tiny"
        $0.promptTokenIds = [5, 6]
        $0.options = .with {
          $0.decoder = "ilm"
          $0.decoderOptions = ["suppress": "4,99"]
        }
      })
    }
  }

  /// The CLI: `zoo plugins` lists the decoder, `zoo infill` refuses bad marks and
  /// templates with zood's sentence, and draws every insertion with --show-steps.
  func testCLIInfill() throws {
    let socket = try zood.socket
    func zoo(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
      try runProcess(try Paths.product("zoo").path, args + ["--socket", socket])
    }
    let plugins = try zoo(["plugins"])
    XCTAssertEqual(plugins.status, 0, plugins.stderr)
    for line in ["ilm", "insertion", "model:ilm", "stop_threshold=0.5", "slot_top_k=1"] {
      XCTAssertTrue(plugins.stdout.contains(line), "\(line) in\n\(plugins.stdout)")
    }
    let noGap = try zoo(["infill", "ilm-tiny-bytes", "no gap here"])
    XCTAssertNotEqual(noGap.status, 0)
    XCTAssertTrue(noGap.stderr.contains("no gap to fill"), noGap.stderr)
    let adjacent = try zoo(["infill", "ilm-tiny-bytes", "a ______ b"])
    XCTAssertTrue(adjacent.stderr.contains("two gaps in a row"), adjacent.stderr)
    // Another mark cuts the template there (then its bytes are beyond this tiny vocabulary).
    let otherMark = try zoo(["infill", "ilm-tiny-bytes", "a <> b", "--gap", "<>"])
    XCTAssertTrue(otherMark.stderr.contains("outside the vocabulary"), otherMark.stderr)
    let emptyMark = try zoo(["infill", "ilm-tiny-bytes", "a ___ b", "--gap", ""])
    XCTAssertNotEqual(emptyMark.status, 0)
    XCTAssertTrue(emptyMark.stderr.contains("--gap must not be empty"), emptyMark.stderr)
  }
}
