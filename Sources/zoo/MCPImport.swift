import Foundation
import MCP
import Synchronization
import SystemPackage
import ZooProto

/// Lists an MCP server's tools over stdio with the official MCP Swift SDK: starts
/// `command`, runs the initialize handshake and tools/list (every page), and stops it.
/// The client, not zood, runs the server: zood never starts programs a client names.
enum MCPImport {
  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  static func listTools(command: [String], timeout: Duration) async throws -> (server: String, tools: [MCP.Tool]) {
    let server = ServerProcess()
    try server.start(command)
    defer { server.stop() }
    let transport = StdioTransport(
      input: FileDescriptor(rawValue: server.fromServer.fileHandleForReading.fileDescriptor),
      output: FileDescriptor(rawValue: server.toServer.fileHandleForWriting.fileDescriptor))
    let client = Client(name: "zoo", version: "0.1.0")
    // Whichever comes first: the answer, the server exiting, or the timeout. The SDK
    // waits for answers without a deadline, so the race is kept here.
    Task {
      do {
        let hello = try await client.connect(transport: transport)
        var tools: [MCP.Tool] = []
        var cursor: String?
        repeat {
          let page = try await client.listTools(cursor: cursor)
          tools += page.tools
          cursor = page.nextCursor
        } while cursor != nil && tools.count < 100_000
        server.finish(.success(("\(hello.serverInfo.name) \(hello.serverInfo.version)", tools)))
      } catch {
        // A server that died makes the SDK fail on a broken pipe: its exit says more.
        for _ in 0..<25 where server.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        server.finish(.failure(server.isRunning ? Failure(description: "the MCP handshake failed: \(error)\(server.lastLines())") : server.exited))
      }
    }
    let deadline = ContinuousClock.now + timeout
    while server.outcome == nil {
      if !server.isRunning {
        try await Task.sleep(for: .milliseconds(200))  // let an answer already sent win
        server.finish(.failure(server.exited))
      } else if ContinuousClock.now >= deadline {
        server.finish(.failure(Failure(
          description: "the server did not finish the MCP handshake and tools/list within \(timeout) (is it an MCP server on stdio? does it print something else on stdout?)\(server.lastLines())")))
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    let result = try server.outcome!.get()
    await client.disconnect()
    return result
  }

  /// The server's process, its pipes and its stderr, and the outcome of the race.
  private final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let toServer = Pipe()
    let fromServer = Pipe()
    private let serverLog = Pipe()
    private let state = Shared()

    /// The stderr bytes so far and the outcome, behind one lock.
    private final class Shared: Sendable {
      private let value = Mutex<(stderr: Data, outcome: Result<(String, [MCP.Tool]), Failure>?)>((Data(), nil))
      func withLock<T>(_ body: (inout (stderr: Data, outcome: Result<(String, [MCP.Tool]), Failure>?)) -> T) -> T {
        value.withLock { body(&$0) }
      }
    }

    func start(_ command: [String]) throws {
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = command
      process.standardInput = toServer
      process.standardOutput = fromServer
      process.standardError = serverLog
      serverLog.fileHandleForReading.readabilityHandler = { [state] handle in
        let chunk = handle.availableData
        state.withLock { if $0.stderr.count < 1 << 20 { $0.stderr.append(chunk) } }
      }
      do { try process.run() } catch {
        throw Failure(description: "could not start '\(command.joined(separator: " "))': \(error.localizedDescription)")
      }
    }

    var isRunning: Bool { process.isRunning }
    /// The failure of a server that exited early, with its status and last words.
    var exited: Failure {
      drainLog()
      return Failure(description: "the server exited (status \(process.terminationStatus)) before listing its tools\(lastLines())")
    }

    /// Reads what the server wrote on stderr that is not read yet: the handler runs
    /// asynchronously, so its last lines may still be in the pipe. At most 1 s, in case a
    /// child of the server still holds the pipe open.
    private func drainLog() {
      let handle = serverLog.fileHandleForReading
      handle.readabilityHandler = nil
      let done = DispatchSemaphore(value: 0)
      DispatchQueue.global().async { [state] in
        if let rest = try? handle.readToEnd() { state.withLock { if $0.stderr.count < 1 << 20 { $0.stderr.append(rest) } } }
        done.signal()
      }
      _ = done.wait(timeout: .now() + 1)
    }
    var outcome: Result<(String, [MCP.Tool]), Failure>? { state.withLock { $0.outcome } }

    /// The first outcome wins.
    func finish(_ result: Result<(String, [MCP.Tool]), Failure>) {
      state.withLock { if $0.outcome == nil { $0.outcome = result } }
    }

    /// The last lines the server wrote on stderr, for an error message.
    func lastLines() -> String {
      let text = String(decoding: state.withLock { $0.stderr }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      let tail = text.split(separator: "\n").suffix(6).joined(separator: "\n    ")
      return tail.isEmpty ? "" : "; it wrote on stderr:\n    \(tail)"
    }

    func stop() {
      if process.isRunning {
        process.terminate()
        // A server that ignores SIGTERM is killed: the import must not hang on it.
        for _ in 0..<20 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      }
      serverLog.fileHandleForReading.readabilityHandler = nil
    }
  }

  /// The tools as a zoo catalog: names, descriptions and input schemas as the server
  /// gave them.
  static func catalog(named name: String, source: String, tools: [MCP.Tool]) throws -> Zoo_V1_ToolCatalog {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try .with { c in
      c.name = name
      c.source = source
      c.tools = try tools.map { tool in
        try .with {
          $0.name = tool.name
          $0.description_p = tool.description ?? tool.title ?? ""
          $0.inputSchemaJson = String(decoding: try encoder.encode(tool.inputSchema), as: UTF8.self)
        }
      }
    }
  }
}
