import Foundation
import XCTest

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
}
