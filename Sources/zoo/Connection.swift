import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SwiftProtobuf
import ZooCore
import ZooSocket
import ZooRPC


/// Options every subcommand takes.
struct ConnectionOptions: ParsableArguments {
  @Option(help: "zood's Unix socket. Default: $ZOO_SOCKET, else $XDG_RUNTIME_DIR/zoo/zood.sock, else ~/.zoo/zood.sock.")
  var socket: String?

  var socketPath: String { socket ?? UnixSocket.defaultPath }

  /// Runs `body` with a client connected to zood, or explains how to start zood.
  func withZoo<R: Sendable>(_ body: (Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix>) async throws -> R) async throws -> R {
    let path = socketPath
    guard UnixSocket.isAccepting(path) else {
      throw ZooCLIError(
        message: """
        zood is not running at \(path).
        Start it with:  zood --models DIR --plugins DIR \(socket.map { "--socket \($0) " } ?? "")&
        (in a zoo checkout, scripts/setup builds zoo and starts zood with the bundled models)
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
