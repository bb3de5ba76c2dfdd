import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// Embed through a real zood: all-MiniLM-L6-v2 against sentence-transformers' own
/// embeddings (../shared/fixtures/minilm), zood's tokenisation and truncation, the
/// errors, and `zoo embed`.
final class EmbedTests: XCTestCase {
  static let shared = SharedZood()
  /// Nil when MiniLM is not installed; the tests that need it skip, saying so.
  nonisolated(unsafe) static var miniLMSkip: XCTSkip?

  override class func setUp() {
    super.setUp()
    shared.start { z in
      try z.addModel(
        from: FixtureLocation.folder("mamba-hf"), as: "mamba-bytes", zooJSON: #"{"tokenizer": "bytes"}"#)
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

  func requireMiniLM() throws {
    if let skip = Self.miniLMSkip { throw skip }
  }

  func embed(_ texts: [String], model: String = "minilm", truncate: Bool? = nil) async throws -> Zoo_V1_EmbedResponse {
    try await zood.withClient { zoo, _ in
      try await zoo.embed(.with {
        $0.model = model
        $0.texts = texts
        if let truncate { $0.truncate = truncate }
      })
    }
  }

  /// The fixture: 24 sentences, the ids sentence-transformers fed the model, and its
  /// normalised embeddings.
  struct Fixture {
    let sentences: [String]
    let inputIds: [[Int]]
    let embeddings: [[Float]]

    static func load() throws -> Fixture {
      let data = try Data(contentsOf: FixtureLocation.folder("minilm").appendingPathComponent("io.json"))
      let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      return Fixture(
        sentences: try XCTUnwrap(json["sentences"] as? [String]),
        inputIds: try XCTUnwrap(json["input_ids"] as? [[Int]]),
        embeddings: try XCTUnwrap(json["embeddings_normalized"] as? [[Double]]).map { $0.map(Float.init) })
    }
  }

  func testMiniLMMatchesSentenceTransformers() async throws {
    try requireMiniLM()
    let fixture = try Fixture.load()
    let response = try await embed(fixture.sentences)
    XCTAssertEqual(response.dimensions, 384)
    XCTAssertEqual(response.embeddings.count, fixture.sentences.count)
    XCTAssertEqual(Int(response.totalTokens), fixture.inputIds.reduce(0) { $0 + $1.count })
    for (i, e) in response.embeddings.enumerated() {
      // zood tokenised the text itself: same ids count (the ids are checked in the
      // tokenizer tests), the 444-token text cut at max_seq_length 256.
      XCTAssertEqual(Int(e.tokens), fixture.inputIds[i].count, "tokens of sentence \(i)")
      XCTAssertEqual(e.truncated, i == 23, "truncated flag of sentence \(i)")
      XCTAssertEqual(e.values.count, 384)
      assertClose(e.values, fixture.embeddings[i], .official, "MiniLM through zood, sentence \(i)")
      // Normalised in float32: each component is within a few u of v/|v|, so the norm is
      // within a few u of 1; 1e-5 is 170 u.
      let norm = e.values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
      XCTAssertEqual(norm, 1, accuracy: 1e-5, "sentence \(i) is L2-normalised")
    }
    // A text embedded alone gets the vector it gets inside a batch (no padding leaks), up
    // to rounding: the batch's linear layers are one GEMM over all its rows, and OpenBLAS
    // rounds a row differently by the call's row count (`Tolerance.reordered`).
    for i in [0, 5, 23] {
      let alone = try await embed([fixture.sentences[i]]).embeddings[0].values
      assertClose(alone, response.embeddings[i].values, .reordered, "sentence \(i) alone vs in the batch")
    }
  }

  func testTruncateFalseRefusesLongText() async throws {
    try requireMiniLM()
    let long = try Fixture.load().sentences[23]
    await assertRPCError(.invalidArgument, containing: "at most 256") {
      try await self.embed(["short", long], truncate: false)
    }
    let cut = try await embed([long], truncate: true)
    XCTAssertEqual(cut.embeddings[0].tokens, 256)
  }

  func testBadRequests() async throws {
    await assertRPCError(.failedPrecondition, containing: "does not produce embeddings") {
      try await self.embed(["hello"], model: "mamba-bytes")
    }
    await assertRPCError(.notFound, containing: "no-such-model") { try await self.embed(["x"], model: "no-such-model") }
    try requireMiniLM()
    await assertRPCError(.invalidArgument, containing: "at least one text") { try await self.embed([]) }
    await assertRPCError(.invalidArgument, containing: "at most 1024") {
      try await self.embed(Array(repeating: "x", count: 1025))
    }
  }

  func testCLIEmbedPrintsVectorsAndJSON() async throws {
    try requireMiniLM()
    let zoo = try Paths.product("zoo").path
    let socket = try zood.socket
    let plain = try runProcess(zoo, ["embed", "minilm", "a sentence", "another one", "--socket", socket])
    XCTAssertEqual(plain.status, 0, plain.stderr)
    let lines = plain.stdout.split(separator: "\n")
    XCTAssertEqual(lines.count, 2)
    let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [Double])
    // The same batch through gRPC: the same computation, and the CLI prints each float32
    // in its shortest form that reads back as the same float.
    let expected = try await embed(["a sentence", "another one"]).embeddings[0].values
    XCTAssertEqual(first.count, 384)
    assertIdentical(first.map(Float.init), expected, "zoo embed's printed vector vs gRPC")

    let json = try runProcess(zoo, ["embed", "minilm", "a sentence", "--json", "--socket", socket])
    XCTAssertEqual(json.status, 0, json.stderr)
    let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let embeddings = try XCTUnwrap(object["embeddings"] as? [[String: Any]])
    XCTAssertEqual((embeddings[0]["values"] as? [Double])?.count, 384)
    XCTAssertEqual(embeddings[0]["tokens"] as? Int, 4)  // [CLS] a sentence [SEP]

    let refused = try runProcess(zoo, ["embed", "mamba-bytes", "x", "--socket", socket])
    XCTAssertNotEqual(refused.status, 0)
    XCTAssertTrue(refused.stderr.contains("does not produce embeddings"), refused.stderr)
  }
}
