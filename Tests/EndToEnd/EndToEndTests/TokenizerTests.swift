import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// Text prompts through a model folder's tokenizer.json: zood tokenizes exactly as
/// Hugging Face tokenizers does and streams the generated tokens back as text; a
/// tokenizer.json zoo cannot reproduce exactly is refused with the feature named.
final class TokenizerTests: XCTestCase {
  struct Fixture: Decodable {
    struct Entry: Decodable {
      let text: String
      let ids: [Int32]
      let decoded: String
    }
    let strings: [Entry]
    let vocab_size: Int
  }

  func testTextPromptThroughTokenizerJSON() async throws {
    let folder = try FixtureLocation.folder("bpe-tokenizer")
    let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: folder.appendingPathComponent("io.json")))
    let prompt = try XCTUnwrap(fixture.strings.first { $0.text == "Hello, world!" })
    let answer = try XCTUnwrap(fixture.strings.first { $0.text == "Wherefore art thou Romeo?" })
    XCTAssertEqual(Set(answer.ids).count, answer.ids.count)
    XCTAssertFalse(answer.ids.contains(prompt.ids.last!))

    // A bigram table that continues the prompt's last token with the answer's tokens,
    // so a correct tokenizer in and a correct detokenizer out give exactly the answer.
    let v = fixture.vocab_size
    var table = [Float](repeating: 0, count: v * v)
    for (from, to) in zip([prompt.ids.last!] + answer.ids.dropLast(), answer.ids) {
      table[Int(from) * v + Int(to)] = 10
    }
    let z = try ZoodInstance()
    try buildBigramPlugin(into: z.plugins.appendingPathComponent("libcbigram.so"))
    let model = z.models.appendingPathComponent("bpe-bigram")
    try writeBigramModel(at: model, vocabulary: v, table: table)
    try FileManager.default.copyItem(
      at: folder.appendingPathComponent("tokenizer.json"), to: model.appendingPathComponent("tokenizer.json"))
    // The same model with a tokenizer.json using a normalizer zoo does not implement.
    let refused = z.models.appendingPathComponent("nfkc-bigram")
    try writeBigramModel(at: refused, vocabulary: v, table: table)
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer.json"))) as! [String: Any]
    json["normalizer"] = ["type": "NFKC"]
    try JSONSerialization.data(withJSONObject: json).write(to: refused.appendingPathComponent("tokenizer.json"))
    try z.start()

    try await z.withClient { zoo, _ in
      let messages = try await z.generate(.with {
        $0.model = "bpe-bigram"
        $0.prompt = prompt.text
        $0.options = .with {
          $0.maxTokens = Int32(answer.ids.count)
          $0.temperature = 0
        }
      })
      XCTAssertEqual(messages.last?.stats.promptTokens, Int32(prompt.ids.count), "prompt tokenized as HF does")
      XCTAssertEqual(messages.flatMap(\.tokenIds), answer.ids)
      XCTAssertEqual(messages.map(\.text).joined(), answer.decoded)

      let show = try await zoo.showModel(.with { $0.model = "bpe-bigram" })
      XCTAssertEqual(show.tokenizer, "tokenizer.json")
    }
    await assertRPCError(.failedPrecondition, containing: "NFKC") {
      try await z.withClient { zoo, _ in
        try await zoo.generate(.with {
          $0.model = "nfkc-bigram"
          $0.prompt = "hello"
        }) { response in
          for try await _ in response.messages {}
        }
      }
    }
  }
}
