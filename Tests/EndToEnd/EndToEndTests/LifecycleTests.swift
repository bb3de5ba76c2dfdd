import Foundation
import GRPCCore
import XCTest
import ZooTestSupport
import ZooProto
import ZooRPC

/// zood's socket rules and shutdown: a second zood refuses a live socket, a stale one
/// is replaced, SIGTERM removes the socket and exits 0; the socket is 0600.
final class LifecycleTests: XCTestCase {
  func testSecondZoodRefusesLiveSocketAndSigtermCleansUp() throws {
    let first = try ZoodInstance()
    try first.start()
    var st = stat()
    XCTAssertEqual(stat(first.socket, &st), 0)
    XCTAssertEqual(st.st_mode & 0o777, 0o600, "socket must be owner-only")

    let second = try runProcess(
      try Paths.product("zood").path,
      ["--socket", first.socket, "--models", first.models.path, "--plugins", first.plugins.path])
    XCTAssertEqual(second.status, 1)
    XCTAssertTrue(second.stderr.contains("another zood is already serving"), second.stderr)
    XCTAssertTrue(FileManager.default.fileExists(atPath: first.socket), "the refused zood must not remove the live socket")

    XCTAssertEqual(first.stop(), 0, "SIGTERM should exit 0:\n\(first.log)")
    XCTAssertFalse(FileManager.default.fileExists(atPath: first.socket), "socket should be removed on SIGTERM")
    XCTAssertTrue(first.log.contains("zood stopped"), first.log)
  }

  /// SIGHUP (a closed terminal, or an operator after adding models) rescans the models
  /// folders and keeps serving, instead of killing zood.
  func testSighupRescansAndKeepsServing() async throws {
    let z = try ZoodInstance()
    try z.start()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "added-later")
    kill(try XCTUnwrap(z.process).processIdentifier, SIGHUP)
    let deadline = Date().addingTimeInterval(10)
    while !z.log.contains("received SIGHUP: rescanned the models folders, 1 models") && Date() < deadline {
      try await Task.sleep(for: .milliseconds(50))
    }
    XCTAssertTrue(z.log.contains("received SIGHUP: rescanned the models folders, 1 models"), z.log)
    let models = try await z.withClient { zoo, _ in try await zoo.listModels(.init()).models }
    XCTAssertEqual(models.map(\.name), ["added-later"])
    XCTAssertEqual(z.stop(), 0)
  }

  func testStaleSocketIsReplaced() throws {
    let z = try ZoodInstance()
    // A socket file nobody listens on, as a zood killed with SIGKILL leaves behind.
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      let b = Array(z.socket.utf8)
      raw.copyBytes(from: b)
      raw[b.count] = 0
    }
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    XCTAssertEqual(bound, 0)
    close(fd)
    XCTAssertTrue(FileManager.default.fileExists(atPath: z.socket))
    try z.start()
    XCTAssertEqual(z.stop(), 0)
  }

  func testRefusesPathThatIsNotASocket() throws {
    let z = try ZoodInstance()
    try "not a socket".write(toFile: z.socket, atomically: true, encoding: .utf8)
    let r = try runProcess(try Paths.product("zood").path, ["--socket", z.socket, "--plugins", z.plugins.path])
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.contains("is not a socket"), r.stderr)
    XCTAssertEqual(try String(contentsOfFile: z.socket, encoding: .utf8), "not a socket", "must not touch the file")
  }

  func testSigtermDuringAStreamCancelsItAndExitsZero() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    let last: Zoo_V1_GenerateResponse? = try await z.withClient { zoo, _ in
      try await zoo.generate(.with {
        $0.model = "m"
        $0.promptTokenIds = [1]
        $0.options = .with { $0.maxTokens = 65536 }
      }) { response in
        var last: Zoo_V1_GenerateResponse?
        var n = 0
        do {
          for try await m in response.messages {
            n += 1
            if n == 3 { z.process?.terminate() }  // SIGTERM mid-stream
            last = m
          }
        } catch {
          return nil  // the stream may also end with an error status: acceptable
        }
        return last
      }
    }
    if let last {
      XCTAssertTrue(last.done)
      XCTAssertEqual(last.finishReason, .cancelled)
    }
    XCTAssertEqual(z.stop(), 0, "zood should exit 0 after SIGTERM:\n\(z.log)")
    XCTAssertFalse(FileManager.default.fileExists(atPath: z.socket))
  }
}
