import Foundation
import XCTest
import ZooTestSupport

/// The zoo CLI against a real zood.
final class CLITests: XCTestCase {
  func zoo(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try runProcess(try Paths.product("zoo").path, args)
  }

  func testSaysHowToStartZoodWhenNotRunning() throws {
    let r = try zoo(["list", "--socket", "/tmp/zoo-no-such-\(UUID().uuidString.prefix(6)).sock"])
    XCTAssertNotEqual(r.status, 0, "scripts rely on a failing exit status when zood is down")
    XCTAssertTrue((r.stdout + r.stderr).contains("zood is not running"), r.stdout + r.stderr)
    XCTAssertTrue((r.stdout + r.stderr).contains("zood --models"), r.stdout + r.stderr)
  }

  func testListShowGeneratePsAndErrors() throws {
    let z = try ZoodInstance()
    try z.addModel(
      from: FixtureLocation.folder("mamba-hf"), as: "mamba-bytes", zooJSON: #"{"tokenizer": "bytes"}"#)
    try z.start()
    let s = ["--socket", z.socket]

    let list = try zoo(["list"] + s)
    XCTAssertEqual(list.status, 0, list.stderr)
    XCTAssertTrue(list.stdout.contains("mamba-bytes"), list.stdout)
    XCTAssertTrue(list.stdout.contains("statespace"), list.stdout)

    let json = try zoo(["list", "--json"] + s)
    let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
    XCTAssertEqual(((parsed?["models"] as? [[String: Any]])?.first?["name"] as? String), "mamba-bytes")

    let plugins = try zoo(["plugins"] + s)
    XCTAssertTrue(plugins.stdout.contains("statespace") && plugins.stdout.contains("READY"), plugins.stdout)

    let show = try zoo(["show", "mamba-bytes"] + s)
    XCTAssertTrue(show.stdout.contains("mamba") && show.stdout.contains("bytes"), show.stdout)

    // Greedy text generation: the same text twice, 12 bytes long.
    let args = ["generate", "mamba-bytes", "Hello", "--max-tokens", "12", "--temperature", "0"] + s
    let g1 = try zoo(args)
    let g2 = try zoo(args)
    XCTAssertEqual(g1.status, 0, g1.stderr)
    XCTAssertEqual(g1.stdout, g2.stdout)

    let lp = try zoo(["generate", "mamba-bytes", "Hello", "--max-tokens", "3", "--logprobs", "2"] + s)
    XCTAssertEqual(lp.stdout.split(separator: "\n").count, 3, lp.stdout)

    let ps = try zoo(["ps"] + s)
    XCTAssertTrue(ps.stdout.contains("mamba-bytes"), ps.stdout)

    let missing = try zoo(["generate", "nope", "x"] + s)
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("not found"), missing.stderr)
  }
}
