import Foundation
import XCTest
import ZooTestSupport

@testable import ZooCore

/// Checks the tokenizer.json tokenizers against the fixtures produced by Hugging Face
/// `tokenizers` 0.23.3 (Tests/Fixtures/bpe-tokenizer and Tests/Fixtures/minilm).
final class TokenizerFixtureTests: XCTestCase {
  private func loadJSON(_ url: URL) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    return try XCTUnwrap(object as? [String: Any], "\(url.path) is not a JSON object")
  }

  private static func ids(_ value: Any?) -> [Int32]? {
    (value as? [NSNumber])?.map(\.int32Value)
  }

  // MARK: Byte-level BPE

  func testByteLevelBPEStrings() throws {
    let folder = try FixtureLocation.folder("bpe-tokenizer")
    let tokenizer = try loadTokenizer(path: folder.appendingPathComponent("tokenizer.json").path)
    XCTAssertTrue(tokenizer is ByteLevelBPETokenizer)
    XCTAssertEqual(tokenizer.vocabularySize, 2048)
    let records = try XCTUnwrap(try loadJSON(folder.appendingPathComponent("io.json"))["strings"] as? [[String: Any]])
    XCTAssertEqual(records.count, 40)
    var matched = 0
    for (index, record) in records.enumerated() {
      let text = try XCTUnwrap(record["text"] as? String)
      let expected = try XCTUnwrap(Self.ids(record["ids"]))
      let ids = tokenizer.encode(text)
      XCTAssertEqual(ids, expected, "string \(index) \(text.debugDescription): ids")
      if let tokens = record["tokens"] as? [String] {
        XCTAssertEqual(ids.compactMap { tokenizer.token(of: $0) }, tokens, "string \(index): tokens")
      }
      let decoded = tokenizer.decode(expected, skipSpecialTokens: false)
      XCTAssertEqual(decoded, record["decoded"] as? String, "string \(index): decode")
      XCTAssertEqual(decoded, text, "string \(index): round trip")
      XCTAssertEqual(
        tokenizer.decode(expected, skipSpecialTokens: true), record["decoded_skip_special"] as? String,
        "string \(index): decode skipping specials")
      // The protocol's per-token bytes concatenate to the input's UTF-8.
      XCTAssertEqual(expected.flatMap { tokenizer.bytes(of: $0) }, Array(text.utf8), "string \(index): bytes")
      if ids == expected && decoded == text { matched += 1 }
    }
    print("bpe-tokenizer: \(matched)/\(records.count) strings matched ids and round-tripped")
    XCTAssertEqual(matched, records.count)
  }

  func testByteLevelBPEAustenHeldout() throws {
    let folder = try FixtureLocation.folder("bpe-tokenizer")
    let tokenizer = try loadTokenizer(path: folder.appendingPathComponent("tokenizer.json").path)
    let heldout = try XCTUnwrap(try loadJSON(folder.appendingPathComponent("io.json"))["heldout"] as? [String: Any])
    let text = try XCTUnwrap(heldout["text"] as? String)
    let expected = try XCTUnwrap(Self.ids(heldout["ids"]))
    XCTAssertEqual(expected.count, 7145)
    let ids = tokenizer.encode(text)
    XCTAssertEqual(ids.count, expected.count)
    if let firstDifference = zip(ids, expected).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
      XCTFail("heldout ids differ first at index \(firstDifference.offset)")
    }
    XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), text)
  }

  func testByteLevelBPEMaxLengthTruncates() throws {
    let folder = try FixtureLocation.folder("bpe-tokenizer")
    let tokenizer = try loadTokenizer(path: folder.appendingPathComponent("tokenizer.json").path)
    let full = tokenizer.encode("To be, or not to be, that is the question.")
    XCTAssertEqual(tokenizer.encode("To be, or not to be, that is the question.", addSpecialTokens: true, maxLength: 3), Array(full.prefix(3)))
  }

  // MARK: WordPiece (all-MiniLM-L6-v2)

  /// The MiniLM fixture ships ids but not tokenizer.json (it comes with the 90 MB weights).
  /// Looked for in the model folder `zoo pull minilm` installs: $ZOO_MINILM_MODEL (as
  /// scripts/test sets it), else ~/.zoo/models/minilm; otherwise the test is skipped
  /// with instructions.
  private func miniLMTokenizerPath() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let folders = [env["ZOO_MINILM_MODEL"], NSHomeDirectory() + "/.zoo/models/minilm"].compactMap { $0 }.filter { !$0.isEmpty }
    let candidates = folders.map { $0 + "/tokenizer.json" }
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
    throw XCTSkip(
      "minilm tokenizer.json is missing (it comes with the 90 MB weights, not with the fixture; looked at \(candidates)). "
        + "Get it with `zoo pull minilm` (or `zoo pull minilm --models DIR` and ZOO_MINILM_MODEL=DIR/minilm), as scripts/test does.")
  }

  func testWordPieceMiniLMSentences() throws {
    let io = try loadJSON(try FixtureLocation.folder("minilm").appendingPathComponent("io.json"))
    let tokenizer = try loadTokenizer(path: try miniLMTokenizerPath())
    XCTAssertTrue(tokenizer is WordPieceTokenizer)
    XCTAssertEqual(tokenizer.vocabularySize, 30522)
    let sentences = try XCTUnwrap(io["sentences"] as? [String])
    let expected = try XCTUnwrap((io["input_ids"] as? [Any])?.compactMap { Self.ids($0) })
    let expectedUntruncated = try XCTUnwrap((io["input_ids_untruncated"] as? [Any])?.compactMap { Self.ids($0) })
    let expectedTokens = io["tokens"] as? [[String]]
    XCTAssertEqual(sentences.count, 24)
    XCTAssertEqual(expected.count, sentences.count)
    let maxLength = (io["max_seq_length"] as? NSNumber)?.intValue ?? 256
    XCTAssertEqual(maxLength, 256)
    var matched = 0
    for (index, sentence) in sentences.enumerated() {
      let ids = tokenizer.encode(sentence, addSpecialTokens: true, maxLength: maxLength)
      XCTAssertEqual(ids, expected[index], "sentence \(index) \(sentence.debugDescription)")
      if let expectedTokens {
        XCTAssertEqual(ids.compactMap { tokenizer.token(of: $0) }, expectedTokens[index], "sentence \(index): tokens")
      }
      let untruncated = tokenizer.encode(sentence, addSpecialTokens: true, maxLength: nil)
      XCTAssertEqual(untruncated, expectedUntruncated[index], "sentence \(index): untruncated")
      if ids == expected[index] && untruncated == expectedUntruncated[index] { matched += 1 }
    }
    print("minilm: \(matched)/\(sentences.count) sentences matched (truncated at \(maxLength) and untruncated)")
    XCTAssertEqual(matched, sentences.count)
    XCTAssertEqual(expectedUntruncated[23].count, 444)
    XCTAssertEqual(expected[23].count, 256)
    XCTAssertEqual(tokenizer.encode("", addSpecialTokens: true, maxLength: 256), [101, 102])
    XCTAssertEqual(tokenizer.encode("Hello, world!", addSpecialTokens: false, maxLength: nil).count, 4)
  }

  func testWordPieceDecode() throws {
    let tokenizer = try loadTokenizer(path: try miniLMTokenizerPath())
    let ids = tokenizer.encode("Hello, world! Supercalifragilistic don't", addSpecialTokens: true, maxLength: nil)
    // tokenizers' WordPiece decoder: ## glued, " ," and " !" cleaned up. Its cleanup runs
    // per token, so " ' " (which spans three tokens) stays: tokenizers 0.23.3 itself returns
    // "don ' t" here (transformers' Python-side clean_up_tokenization_spaces is not part of it).
    XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), "hello, world! supercalifragilistic don ' t")
    XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), "[CLS] hello, world! supercalifragilistic don ' t [SEP]")
  }

  /// A miniature BERT tokenizer.json (BertProcessing, max_input_chars_per_word 5) so the
  /// WordPiece path is checked even without the MiniLM download. Expected ids and decodes
  /// are from tokenizers 0.23.3 on this same JSON.
  func testWordPieceMiniatureVocabulary() throws {
    let json = #"""
      {"version": "1.0", "truncation": null, "padding": null,
       "added_tokens": [
         {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 18, "content": "[MaSK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true}],
       "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
       "pre_tokenizer": {"type": "BertPreTokenizer"},
       "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
       "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
       "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 5,
         "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "hel": 5, "##lo": 6, "##l": 7, ",": 8,
           "cafe": 9, "!": 10, "$": 11, "e": 12, "##e": 13, "\u2e42": 14, "a": 15, "b": 16, "##b": 17}}}
      """#
    let tokenizer = try loadTokenizer(jsonData: Data(json.utf8))
    let cases: [(text: String, ids: [Int32], decoded: String)] = [
      ("Hello, HELLO hellol!", [2, 4, 8, 4, 1, 10, 3], "hello, hello!"),
      // Special token inside text; ZWSP (Cf) removed by clean_text.
      ("Caf\u{e9} $5 [SEP] hel\u{200b}lo", [2, 9, 11, 1, 3, 4, 3], "cafe $ hello"),
      // U+2E42 (Unicode 7.0) is punctuation to tokenizers, U+2E43 (9.0) is not.
      ("a\u{2e42}b a\u{2e43}b", [2, 15, 14, 16, 1, 3], "a \u{2e42} b"),
      ("helloo abbbbb abbbb", [2, 1, 1, 15, 17, 17, 17, 17, 3], "abbbb"),
      ("\u{65e5}\u{672c} \u{a0}e\u{301}", [2, 1, 1, 12, 3], "e"),
    ]
    for (text, ids, decoded) in cases {
      XCTAssertEqual(tokenizer.encode(text), ids, text.debugDescription)
      XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), decoded, text.debugDescription)
    }
    // A `normalized` added token matches its lowercased form in the lowercased text. (Only
    // ids are compared: tokenizers decodes such a token as "[mask]" and does not skip it as
    // special, a quirk not reproduced.)
    XCTAssertEqual(tokenizer.encode("a [MASK] b [mask]"), [2, 15, 18, 16, 18, 3])
    // Truncation keeps room for [CLS] and [SEP].
    XCTAssertEqual(tokenizer.encode("hello hello hello", addSpecialTokens: true, maxLength: 3), [2, 4, 3])
    XCTAssertEqual(tokenizer.encode("hello hello hello", addSpecialTokens: false, maxLength: 2), [4, 4])
  }

  // MARK: Refusals

  /// A copy of the BPE fixture's tokenizer.json with one component replaced must be refused
  /// with an error naming that component.
  func testUnsupportedConfigurationsAreRefused() throws {
    let folder = try FixtureLocation.folder("bpe-tokenizer")
    let original = try loadJSON(folder.appendingPathComponent("tokenizer.json"))
    let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-tokenizer-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: temporary) }

    let variants: [(key: String, value: Any, expectedWord: String)] = [
      ("normalizer", ["type": "NFKC"], "normalizer 'NFKC'"),
      ("pre_tokenizer", ["type": "Metaspace", "replacement": "▁"], "pre_tokenizer 'Metaspace'"),
      ("post_processor", ["type": "RobertaProcessing"], "post_processor 'RobertaProcessing'"),
      ("decoder", ["type": "Fuse"], "decoder 'Fuse'"),
    ]
    for variant in variants {
      var modified = original
      modified[variant.key] = variant.value
      let path = temporary.appendingPathComponent("\(variant.key).json")
      try JSONSerialization.data(withJSONObject: modified).write(to: path)
      XCTAssertThrowsError(try loadTokenizer(path: path.path), variant.key) { error in
        XCTAssertTrue("\(error)".contains(variant.expectedWord), "error for \(variant.key) was: \(error)")
      }
    }

    var unigram = original
    unigram["model"] = ["type": "Unigram", "vocab": [["<unk>", 0.0]]]
    let unigramPath = temporary.appendingPathComponent("unigram.json")
    try JSONSerialization.data(withJSONObject: unigram).write(to: unigramPath)
    XCTAssertThrowsError(try loadTokenizer(path: unigramPath.path)) { error in
      XCTAssertTrue("\(error)".contains("model 'Unigram'"), "\(error)")
    }

    var dropout = original
    var model = try XCTUnwrap(original["model"] as? [String: Any])
    model["dropout"] = 0.1
    dropout["model"] = model
    let dropoutPath = temporary.appendingPathComponent("dropout.json")
    try JSONSerialization.data(withJSONObject: dropout).write(to: dropoutPath)
    XCTAssertThrowsError(try loadTokenizer(path: dropoutPath.path)) { error in
      XCTAssertTrue("\(error)".contains("dropout"), "\(error)")
    }
  }

  // MARK: Added-token flags

  /// single_word / lstrip / rstrip as tokenizers' AddedVocabulary applies them.
  func testAddedTokenFlags() {
    let splitter = AddedTokenSplitter([
      AddedToken(content: "<mask>", id: 7, singleWord: false, leftStrip: true, rightStrip: true, normalized: false, special: true),
      AddedToken(content: "cat", id: 8, singleWord: true, leftStrip: false, rightStrip: false, normalized: false, special: false),
    ])
    XCTAssertEqual(splitter.split("a  <mask>  b"), [.text("a"), .token(7), .text("b")])
    XCTAssertEqual(splitter.split("concat cat"), [.text("concat "), .token(8)])
    XCTAssertEqual(splitter.split("cats"), [.text("cats")])
    XCTAssertEqual(splitter.split("\u{e9}cat"), [.text("\u{e9}cat")])
    XCTAssertEqual(splitter.split("cat\u{301}"), [.text("cat\u{301}")])
    XCTAssertEqual(splitter.split("!cat!"), [.text("!"), .token(8), .text("!")])
  }
}
