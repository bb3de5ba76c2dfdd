import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SwiftProtobuf
import ZooRPC

#if canImport(Glibc)
import Glibc
#endif

/// Options every subcommand takes.
struct ConnectionOptions: ParsableArguments {
  @Option(help: "zood's Unix socket. Default: $ZOO_SOCKET, else $XDG_RUNTIME_DIR/zoo/zood.sock, else ~/.zoo/zood.sock.")
  var socket: String?

  var socketPath: String {
    if let socket { return socket }
    let env = ProcessInfo.processInfo.environment
    if let path = env["ZOO_SOCKET"], !path.isEmpty { return path }
    if let runtime = env["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/zoo/zood.sock" }
    return (env["HOME"] ?? NSHomeDirectory()) + "/.zoo/zood.sock"
  }

  /// Runs `body` with a client connected to zood, or explains how to start zood.
  func withZoo<R: Sendable>(_ body: (Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix>) async throws -> R) async throws -> R {
    let path = socketPath
    guard Self.accepts(path) else {
      throw CleanExit.message(
        """
        zood is not running at \(path).
        Start it with:  zood --models models --plugins .build/release \(socket.map { "--socket \($0) " } ?? "")&
        (or run scripts/setup, which builds zoo and starts zood with the bundled models)
        """)
    }
    do {
      return try await withGRPCClient(
        transport: .http2NIOPosix(target: .unixDomainSocket(path: path), transportSecurity: .plaintext)
      ) { client in
        try await body(Zoo_V1_Zoo.Client(wrapping: client))
      }
    } catch let error as RPCError {
      throw ZooCLIError(message: "\(error.message) (\(error.code))")
    }
  }

  /// True when something accepts connections on the socket.
  static func accepts(_ path: String) -> Bool {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      let bytes = Array(path.utf8.prefix(raw.count - 1))
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    } == 0
  }
}

/// An error zood reported, printed as its sentence and status.
struct ZooCLIError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// Prints a message as indented JSON (proto3 JSON mapping).
func printJSON(_ message: some SwiftProtobuf.Message) throws {
  var options = JSONEncodingOptions()
  options.alwaysPrintEnumsAsInts = false
  print(try message.jsonString(options: options))
}

/// "1.2 MB" style sizes.
func humanBytes(_ n: UInt64) -> String {
  let units = ["B", "KB", "MB", "GB", "TB"]
  var v = Double(n)
  var i = 0
  while v >= 1000 && i < units.count - 1 {
    v /= 1000
    i += 1
  }
  return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
}

/// Left-aligned columns, as `ollama list` prints them.
func printTable(_ header: [String], _ rows: [[String]]) {
  let all = [header] + rows
  let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
  for row in all {
    print(row.enumerated().map { $1.padding(toLength: widths[$0] + 3, withPad: " ", startingAt: 0) }.joined()
      .trimmingCharacters(in: .whitespaces))
  }
}
