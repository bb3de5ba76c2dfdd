import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where zood listens and how to tell whether it does; shared by zood and its clients.
public enum UnixSocket {
  /// `$ZOO_SOCKET`, else `$XDG_RUNTIME_DIR/zoo/zood.sock`, else `~/.zoo/zood.sock`.
  public static var defaultPath: String {
    let env = ProcessInfo.processInfo.environment
    if let path = env["ZOO_SOCKET"], !path.isEmpty { return path }
    if let runtime = env["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/zoo/zood.sock" }
    return (env["HOME"] ?? NSHomeDirectory()) + "/.zoo/zood.sock"
  }

  /// True when something accepts connections on the socket at `path`.
  public static func isAccepting(_ path: String) -> Bool {
    guard let fd = connect(path) else { return false }
    close(fd)
    return true
  }

  /// A stream socket connected to `path` (the caller closes it), or nil with `errno` set.
  public static func connect(_ path: String) -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
      close(fd)
      errno = ENAMETOOLONG
      return nil
    }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard rc == 0 else {
      let saved = errno
      close(fd)
      errno = saved
      return nil
    }
    return fd
  }
}
