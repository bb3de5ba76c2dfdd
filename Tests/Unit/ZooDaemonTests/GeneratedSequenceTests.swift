import CZooPlugin
import XCTest
import ZooCore
import ZooProto

@testable import ZooDaemon

/// The host's half of the decoder contract: where tokens go, what commits release,
/// which events break the contract, and how a run's outcome is decided.
final class GeneratedSequenceTests: XCTestCase {
  func sequence(maxTokens: Int32 = 8, stop: [String] = [], eos: [Int32] = []) -> GeneratedSequence {
    GeneratedSequence(
      options: .with {
        $0.maxTokens = maxTokens
        $0.stop = stop
      }, eos: eos, tokenizer: ByteTokenizer())
  }

  func ids(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

  func testSetsOutOfOrderReleaseOnlyTheCommittedPrefix() throws {
    var s = sequence()
    let word = ids("zoo!")
    try s.place(ZOO_TOKEN_SET, position: 3, token: word[3], logprobs: nil)
    XCTAssertEqual(try s.commit(upTo: 0).text, "")
    try s.place(ZOO_TOKEN_SET, position: 1, token: word[1], logprobs: nil)
    try s.place(ZOO_TOKEN_SET, position: 0, token: word[0], logprobs: nil)
    let first = try s.commit(upTo: 2)
    XCTAssertEqual(first.text, "zo")
    XCTAssertEqual(first.tokenIDs, Array(word[0..<2]))
    try s.place(ZOO_TOKEN_SET, position: 2, token: word[2], logprobs: nil)
    XCTAssertEqual(try s.commitAll().text, "o!")
    XCTAssertEqual(s.textTokens, 4)
  }

  func testInsertionsShiftWhatFollows() throws {
    var s = sequence()
    try s.place(ZOO_TOKEN_INSERT, position: 0, token: ids("a")[0], logprobs: nil)
    try s.place(ZOO_TOKEN_INSERT, position: 1, token: ids("c")[0], logprobs: nil)
    try s.place(ZOO_TOKEN_INSERT, position: 1, token: ids("b")[0], logprobs: nil)
    XCTAssertEqual(try s.commitAll().text, "abc")
  }

  func testContractViolationsAreNamed() throws {
    func violation(_ body: (inout GeneratedSequence) throws -> Void) -> String {
      var s = sequence(maxTokens: 4)
      do {
        try body(&s)
        return "none"
      } catch let v as GeneratedSequence.ContractViolation {
        return v.message
      } catch {
        return "\(error)"
      }
    }
    XCTAssertEqual(
      violation { s in
        try s.place(ZOO_TOKEN_APPEND, position: 0, token: 65, logprobs: nil)
        _ = try s.commit(upTo: 1)
        try s.place(ZOO_TOKEN_SET, position: 0, token: 66, logprobs: nil)
      }, "set position 0, which is already committed (committed: 1)")
    XCTAssertEqual(
      violation { s in
        try s.place(ZOO_TOKEN_APPEND, position: 0, token: 65, logprobs: nil)
        _ = try s.commit(upTo: 1)
        try s.place(ZOO_TOKEN_INSERT, position: 0, token: 66, logprobs: nil)
      }, "inserted at position 0, inside the committed text (committed: 1)")
    XCTAssertEqual(
      violation { s in try s.place(ZOO_TOKEN_SET, position: 4, token: 65, logprobs: nil) },
      "set position 4, past max_tokens (4)")
    XCTAssertEqual(
      violation { s in try s.place(ZOO_TOKEN_INSERT, position: 2, token: 65, logprobs: nil) },
      "inserted at position 2, past the end (0 tokens)")
    XCTAssertEqual(
      violation { s in
        try s.place(ZOO_TOKEN_SET, position: 1, token: 65, logprobs: nil)
        _ = try s.commit(upTo: 2)
      }, "committed position 0, which was never set")
    XCTAssertEqual(
      violation { s in
        try s.place(ZOO_TOKEN_APPEND, position: 0, token: 65, logprobs: nil)
        _ = try s.commit(upTo: 3)
      }, "committed 3 positions but placed only 1")
  }

  func testEndOfSequenceStopStringAndMaxTokensEndTheText() throws {
    var eos = sequence(eos: [0])
    for (p, t) in [65, 0, 66].enumerated() { try eos.place(ZOO_TOKEN_SET, position: p, token: Int32(t), logprobs: nil) }
    XCTAssertEqual(try eos.commitAll().text, "A")
    XCTAssertEqual(eos.ending, .eos)
    XCTAssertEqual(eos.textTokens, 1)

    var stop = sequence(stop: ["o!"])
    for (p, t) in ids("zoo!?").enumerated() { try stop.place(ZOO_TOKEN_SET, position: p, token: t, logprobs: nil) }
    XCTAssertEqual(try stop.commitAll().text, "zo")
    XCTAssertEqual(stop.ending, .stopString)

    var length = sequence(maxTokens: 2)
    try length.place(ZOO_TOKEN_APPEND, position: 0, token: 65, logprobs: nil)
    try length.place(ZOO_TOKEN_APPEND, position: 0, token: 66, logprobs: nil)
    XCTAssertEqual(try length.commitAll().text, "AB")
    XCTAssertEqual(length.ending, .maxTokens)
  }

  func testOutcomeOrder() {
    var facts = GenerationOutcome.Facts(
      decoder: "d", status: 0, decoderReason: ZOO_FINISH_LENGTH, decoderError: .empty, stall: nil, violation: nil,
      ending: nil, cancelled: false, endedByDeadline: false, generated: 3)
    func reason(_ f: GenerationOutcome.Facts) -> String {
      switch GenerationOutcome.decide(f) {
      case .finished(let r): "\(r)"
      case .failed(let e): "\(e.code): \(e.message)"
      }
    }
    XCTAssertEqual(reason(facts), "length")
    facts.cancelled = true
    XCTAssertEqual(reason(facts), "cancelled")
    facts.endedByDeadline = true
    XCTAssertTrue(reason(facts).hasPrefix("deadlineExceeded"), reason(facts))
    // What the committed text reached wins over a cancel that came after it.
    facts.ending = .eos
    XCTAssertEqual(reason(facts), "eos")
    facts.violation = .init(message: "set position 9")
    XCTAssertTrue(reason(facts).contains("broke the decoder contract"), reason(facts))
    facts.stall = .resourceExhausted("stalled")
    XCTAssertTrue(reason(facts).hasPrefix("resourceExhausted"), reason(facts))
  }
}
