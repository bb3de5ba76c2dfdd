import Foundation
import XCTest
import ZooTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// zood as a service: systemd's readiness protocol (READY=1 only once the socket
/// accepts, RELOADING/READY around SIGHUP, STOPPING=1 on SIGTERM), JSON log lines, and
/// the unit scripts/install-service writes.
final class ServiceTests: XCTestCase {
  /// A datagram socket standing in for systemd's notify socket.
  private final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
      path = "/tmp/zoo-notify-\(UUID().uuidString.prefix(8)).sock"
      fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
      var address = sockaddr_un()
      address.sun_family = sa_family_t(AF_UNIX)
      withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
      let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
      }
      guard fd >= 0, bound == 0 else { throw XCTSkip("cannot bind a datagram socket: errno \(errno)") }
    }

    /// The next datagram, or nil after `seconds`.
    func receive(within seconds: Int = 30) -> String? {
      var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return nil }
      var buffer = [UInt8](repeating: 0, count: 4096)
      let n = recv(fd, &buffer, buffer.count, 0)
      return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : nil
    }

    deinit {
      close(fd)
      unlink(path)
    }
  }

  func testReadinessReloadAndStopAreNotified() throws {
    let notify = try NotifySocket()
    let z = try ZoodInstance()
    z.environment = ["NOTIFY_SOCKET": notify.path]
    try z.start()
    let ready = try XCTUnwrap(notify.receive(), "no READY=1 from zood")
    XCTAssertTrue(ready.contains("READY=1") && ready.contains("MAINPID=\(z.process!.processIdentifier)"), ready)
    XCTAssertTrue(FileManager.default.fileExists(atPath: z.socket), "READY=1 came before the socket")

    kill(z.process!.processIdentifier, SIGHUP)
    XCTAssertEqual(notify.receive(), "RELOADING=1")
    XCTAssertEqual(notify.receive(), "READY=1")
    kill(z.process!.processIdentifier, SIGTERM)
    XCTAssertEqual(notify.receive(), "STOPPING=1")
    XCTAssertEqual(z.stop(), 0, z.log)
  }

  func testJSONLogLines() throws {
    let z = try ZoodInstance(extraArguments: ["--log-format", "json"])
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try z.start()
    XCTAssertEqual(z.stop(), 0)
    let lines = z.log.split(separator: "\n")
    XCTAssertGreaterThan(lines.count, 3, z.log)
    for line in lines {
      let object = try XCTUnwrap(
        try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not a JSON object: \(line)")
      XCTAssertNotNil(object["time"]?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), "\(line)")
      XCTAssertNotNil(object["level"], "\(line)")
      XCTAssertNotNil(object["message"], "\(line)")
    }
    XCTAssertTrue(lines.contains { $0.contains(#""message":"zood listening on unix://"#) }, z.log)
  }

  func testInstallServiceWritesANotifyUnit() throws {
    // This file is Tests/EndToEnd/EndToEndTests/ServiceTests.swift.
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    let script = repository.appendingPathComponent("scripts/install-service").path
    let zood = try Paths.product("zood").path
    let result = try runProcess(script, ["--zood", zood, "--models", "/tmp", "--print"])
    XCTAssertEqual(result.status, 0, result.stderr)
    for line in [
      "Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
      "ExecStart=\(URL(fileURLWithPath: zood).resolvingSymlinksInPath().path) --socket %t/zoo/zood.sock --models /tmp --plugins ",
    ] {
      XCTAssertTrue(result.stdout.contains(line), "no '\(line)' in:\n\(result.stdout)")
    }
    let missing = try runProcess(script, ["--zood", "/nonexistent/zood", "--print"])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("no zood at /nonexistent/zood"), missing.stderr)
  }
}
