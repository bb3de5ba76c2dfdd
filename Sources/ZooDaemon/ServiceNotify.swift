import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify(3)): `KEY=VALUE` lines in one datagram to the
/// socket in $NOTIFY_SOCKET, so a `Type=notify` unit is started only once zood listens.
/// Written here rather than linking libsystemd: the protocol is a single sendto.
enum ServiceNotify {
  private static let socketPath = Mutex<String?>(nil)

  /// Takes $NOTIFY_SOCKET out of the environment, as sd_notify's unset_environment does,
  /// so that no child (a worker process, an MCP server) reports for zood. A worker keeps
  /// none: its zood reports.
  static func claim(isWorker: Bool) {
    let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"]
    unsetenv("NOTIFY_SOCKET")
    socketPath.withLock { $0 = isWorker ? nil : path }
  }

  /// Sends `state` ("READY=1", "STOPPING=1"...) when zood runs under a service manager;
  /// does nothing otherwise, or when the manager cannot be reached.
  static func send(_ state: String) {
    guard let path = socketPath.withLock({ $0 }), !path.isEmpty else { return }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    // "@name" is a socket in the abstract namespace: its name starts with a NUL byte.
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    _ = state.utf8CString.withUnsafeBufferPointer { text in
      withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, length)
        }
      }
    }
  }
}
