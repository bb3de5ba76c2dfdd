import Foundation
import XCTest

@testable import ZooCore

/// Inputs that crashed a fuzz target (Tests/Fuzz/regressions/<target>/), fed as they
/// are: each must now be refused with a clear error.
final class FuzzRegressionTests: XCTestCase {
  static let regressions = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fuzz/regressions")

  private func input(_ target: String, _ name: String) throws -> Data {
    try Data(contentsOf: Self.regressions.appendingPathComponent(target).appendingPathComponent(name))
  }

  private func refusal(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
      let tokenizer = try loadTokenizer(jsonData: data)
      XCTFail("loaded a tokenizer of \(tokenizer.vocabularySize) tokens", file: file, line: line)
      return ""
    } catch {
      XCTAssertTrue(error is TokenizerLoadError, "\(error)", file: file, line: line)
      return "\(error)"
    }
  }

  /// tokenizer: a TemplateProcessing special token whose id (6) is past the vocabulary
  /// loaded, and encode() then returned id 6 from a vocabulary of 4 tokens.
  func testTokenizerTemplateIdOutsideVocabularyIsRefused() throws {
    let data = try input("tokenizer", "crash-d8f33d927be9075173ff5492a8d1309a3875a227")
    XCTAssertTrue(refusal(data).contains("post_processor adds token id 6, which is outside the vocabulary"), refusal(data))
  }

  func testTokenizerBertProcessingIdOutsideVocabularyIsRefused() {
    let json = """
      {"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}},
       "pre_tokenizer": {"type": "BertPreTokenizer"}, "decoder": {"type": "WordPiece"},
       "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 101], "sep": ["[SEP]", 1]}}
      """
    XCTAssertEqual(
      refusal(Data(json.utf8)), "post_processor adds token id 101, which is outside the vocabulary of 2 tokens")
  }
}
