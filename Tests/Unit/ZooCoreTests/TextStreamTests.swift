import XCTest

@testable import ZooCore

final class TextStreamTests: XCTestCase {
  func feed(_ stream: inout TextStream, _ pieces: [String]) -> [String] {
    pieces.map { stream.append(Array($0.utf8)) }
  }

  func testWithoutStopsReleasesEverything() {
    var s = TextStream(stopStrings: [])
    XCTAssertEqual(feed(&s, ["Hel", "lo"]), ["Hel", "lo"])
    XCTAssertEqual(s.finish(), "")
  }

  func testHoldsPossibleStopPrefixThenReleasesWhenItDiverges() {
    var s = TextStream(stopStrings: ["END"])
    XCTAssertEqual(s.append(Array("abcE".utf8)), "abc", "'E' could start END")
    XCTAssertEqual(s.append(Array("N".utf8)), "", "'EN' still could")
    XCTAssertEqual(s.append(Array("x".utf8)), "ENx", "'ENx' cannot: release it all")
    XCTAssertFalse(s.stopped)
  }

  func testStopSplitAcrossTokensCutsBeforeIt() {
    var s = TextStream(stopStrings: ["\n\n"])
    XCTAssertEqual(s.append(Array("line one\n".utf8)), "line one")
    XCTAssertEqual(s.append(Array("\nmore".utf8)), "")
    XCTAssertTrue(s.stopped)
    XCTAssertEqual(s.append(Array("after".utf8)), "", "nothing after a stop")
    XCTAssertEqual(s.finish(), "")
  }

  func testStopInsideOneTokenKeepsTextBeforeIt() {
    var s = TextStream(stopStrings: ["STOP", "xyz"])
    XCTAssertEqual(s.append(Array("abcSTOPdef".utf8)), "abc")
    XCTAssertTrue(s.stopped)
  }

  func testEarliestOfSeveralStopsWins() {
    var s = TextStream(stopStrings: ["cd", "b"])
    XCTAssertEqual(s.append(Array("abcd".utf8)), "a")
  }

  func testHeldPrefixIsReleasedAtFinish() {
    var s = TextStream(stopStrings: ["END"])
    XCTAssertEqual(s.append(Array("theEN".utf8)), "the")
    XCTAssertEqual(s.finish(), "EN")
  }

  func testIncompleteUTF8IsHeldUntilComplete() {
    var s = TextStream(stopStrings: [])
    let bytes = Array("é😀".utf8)  // 2 + 4 bytes
    XCTAssertEqual(s.append([bytes[0]]), "")
    XCTAssertEqual(s.append([bytes[1], bytes[2]]), "é")
    XCTAssertEqual(s.append([bytes[3], bytes[4]]), "")
    XCTAssertEqual(s.append([bytes[5]]), "😀")
  }

  func testMultibyteStopString() {
    var s = TextStream(stopStrings: ["→"])
    let arrow = Array("→".utf8)
    XCTAssertEqual(s.append(Array("a".utf8) + [arrow[0]]), "a")
    XCTAssertEqual(s.append([arrow[1], arrow[2]]), "")
    XCTAssertTrue(s.stopped)
  }

  func testByteTokenizerRoundTrip() {
    let t = ByteTokenizer()
    let ids = t.encode("héllo")
    XCTAssertEqual(ids.count, 6)
    XCTAssertEqual(String(decoding: ids.flatMap { t.bytes(of: $0) }, as: UTF8.self), "héllo")
    XCTAssertEqual(t.bytes(of: 300), [])
  }
}
