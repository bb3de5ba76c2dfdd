import Foundation
import XCTest

@testable import ZooCore

/// The reader must refuse every malformed file with a message naming the file and,
/// where one is at fault, the tensor.
final class SafetensorsTests: XCTestCase {
  var folder: URL!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

  /// Writes a file from a raw header string and data bytes, exactly as given.
  func write(_ name: String, header: String, data: [UInt8], lengthOverride: UInt64? = nil) throws -> String {
    var bytes: [UInt8] = []
    let h = Array(header.utf8)
    withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { bytes += $0 }
    bytes += h
    bytes += data
    let path = folder.appendingPathComponent(name).path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  func floats(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

  func assertRefused(_ path: String, mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try SafetensorsFile(path: path), file: file, line: line) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains(path), "error should name the file: \(text)", file: file, line: line)
      for n in needles { XCTAssertTrue(text.contains(n), "error should mention '\(n)': \(text)", file: file, line: line) }
    }
  }

  func testReadsValidFileWithScalarAndMetadata() throws {
    let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"s":{"dtype":"F32","shape":[],"data_offsets":[16,20]}}"#
    let path = try write("ok.safetensors", header: header, data: floats([1, 2, 3, 4, 5]))
    let f = try SafetensorsFile(path: path)
    XCTAssertEqual(f.tensors["w"]?.shape, [2, 2])
    XCTAssertEqual(f.tensors["w"]?.floats(), [1, 2, 3, 4])
    XCTAssertEqual(f.tensors["s"]?.shape, [])
    XCTAssertEqual(f.tensors["s"]?.floats(), [5])
    XCTAssertEqual(f.metadata["format"], "pt")
    XCTAssertEqual(f.names, ["w", "s"])
  }

  func testConvertsHalfPrecision() throws {
    let halves: [UInt16] = [Float16(1.5).bitPattern, Float16(-2).bitPattern]
    let bf: [UInt16] = [UInt16(Float(3.0).bitPattern >> 16)]
    var data = halves.withUnsafeBytes { Array($0) }
    data += bf.withUnsafeBytes { Array($0) }
    let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#
    let f = try SafetensorsFile(path: try write("half.safetensors", header: header, data: data))
    XCTAssertEqual(f.tensors["h"]?.floats(), [1.5, -2])
    XCTAssertEqual(f.tensors["b"]?.floats(), [3])
  }

  func testRefusesTooShortFile() throws {
    let path = folder.appendingPathComponent("short.safetensors").path
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
    assertRefused(path, mentions: ["too short"])
  }

  func testRefusesHeaderLengthBeyondFile() throws {
    let path = try write("len.safetensors", header: "{}", data: [], lengthOverride: 1 << 20)
    assertRefused(path, mentions: ["header length"])
  }

  func testRefusesNonJSONHeader() throws {
    assertRefused(try write("json.safetensors", header: "not json", data: []), mentions: ["JSON"])
  }

  func testRefusesOffsetsOutsideData() throws {
    let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
    assertRefused(try write("trunc.safetensors", header: header, data: floats([1, 2])), mentions: ["'w'", "outside"])
  }

  func testRefusesSizeShapeMismatch() throws {
    let header = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#
    assertRefused(try write("size.safetensors", header: header, data: floats([1, 2, 3, 4])), mentions: ["'w'", "shape"])
  }

  func testRefusesOverlap() throws {
    let header =
      #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
    assertRefused(try write("overlap.safetensors", header: header, data: floats([1, 2, 3])), mentions: ["overlaps"])
  }

  func testRefusesUnknownDtype() throws {
    let header = #"{"w":{"dtype":"F8_E4M3X","shape":[1],"data_offsets":[0,1]}}"#
    assertRefused(try write("dtype.safetensors", header: header, data: [0]), mentions: ["'w'", "dtype"])
  }

  func testRefusesNegativeOrFractionalShape() throws {
    let header = #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#
    assertRefused(try write("neg.safetensors", header: header, data: floats([1])), mentions: ["'w'", "shape"])
    let header2 = #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#
    assertRefused(try write("frac.safetensors", header: header2, data: floats([1])), mentions: ["'w'", "shape"])
  }

  func testRefusesMissingFile() {
    assertRefused(folder.appendingPathComponent("nope.safetensors").path, mentions: ["cannot open"])
  }

  func testRefusesHeaderLengthOf2To63OrMore() throws {
    // Once converted with Int(UInt64), which traps: now compared as UInt64 first.
    for length: UInt64 in [1 << 63, .max] {
      assertRefused(try write("huge-\(length).safetensors", header: "{}", data: [], lengthOverride: length), mentions: ["header length"])
    }
  }

  func testRefusesWhatIsNotARegularFile() throws {
    let fifo = folder.appendingPathComponent("fifo.safetensors").path
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    // Opening a FIFO for reading blocks until a writer comes; the reader must not wait.
    assertRefused(fifo, mentions: ["FIFO", "not a regular file"])
    XCTAssertThrowsError(try SafetensorsHeader(path: folder.path)) { XCTAssertTrue("\($0)".contains("directory"), "\($0)") }
    XCTAssertThrowsError(try RegularFile.contents(fifo, limit: 100)) { XCTAssertTrue("\($0)".contains("FIFO"), "\($0)") }
  }

  func testContentsRefusesFilesOverTheLimit() throws {
    let path = try write("big.safetensors", header: "{}", data: Array(repeating: 0, count: 100))
    XCTAssertThrowsError(try RegularFile.contents(path, limit: 50)) { XCTAssertTrue("\($0)".contains("at most 50"), "\($0)") }
    XCTAssertEqual(try RegularFile.contents(path, limit: 200).count, 110)
    XCTAssertNil(try RegularFile.contentsIfPresent(folder.appendingPathComponent("absent").path, limit: 10))
  }

  /// The tensors are zoo's own copy: truncating the file afterwards (which kills a
  /// process reading a mapping of it with SIGBUS) changes nothing.
  func testTruncatingTheFileAfterLoadingIsHarmless() throws {
    let path = try write(
      "w.safetensors", header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: floats([1.5, -2]))
    let file = try SafetensorsFile(path: path)
    XCTAssertEqual(truncate(path, 0), 0)
    XCTAssertEqual(file.tensors["w"]?.floats(), [1.5, -2])
  }

  func testPathsInsideAFolder() {
    XCTAssertEqual(RegularFile.path("model-00001.safetensors", inside: "/m"), "/m/model-00001.safetensors")
    XCTAssertEqual(RegularFile.path("1_Pooling/config.json", inside: "/m"), "/m/1_Pooling/config.json")
    for outside in ["../x", "a/../../x", "/etc/passwd", "", "a\0b", ".."] {
      XCTAssertNil(RegularFile.path(outside, inside: "/m"), outside)
    }
  }

  func testClippedQuotesAtMost64Characters() {
    XCTAssertEqual("short".clipped(), "short")
    XCTAssertEqual(String(repeating: "a", count: 100).clipped(), String(repeating: "a", count: 64) + "… (100 bytes)")
    XCTAssertEqual("a\u{7}b".clipped(), "a\\u{07}b")
  }
}
