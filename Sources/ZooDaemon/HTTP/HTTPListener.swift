import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where zood's HTTP listener binds (`zood --http`): a Unix socket, or a TCP address.
public enum HTTPAddress: Sendable, Equatable, CustomStringConvertible {
  case unix(String)
  case tcp(host: String, port: Int)

  /// "unix:/run/zoo/http.sock", "127.0.0.1:8080", "[::1]:8080", "localhost:8080".
  public init?(_ text: String) {
    if text.hasPrefix("unix:") {
      let path = String(text.dropFirst(5))
      guard !path.isEmpty else { return nil }
      self = .unix(path)
      return
    }
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (1...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { return nil }
    self = .tcp(host: host, port: port)
  }

  /// True for a Unix socket and for TCP on the loopback interface only.
  public var isLoopback: Bool {
    switch self {
    case .unix: return true
    case .tcp(let host, _): return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
  }

  public var description: String {
    switch self {
    case .unix(let path): return "unix:\(path)"
    case .tcp(let host, let port): return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
  }
}

/// One HTTP request, its body read whole: the API's bodies are JSON documents, capped at
/// `HTTPListener.maxBodyBytes`.
struct HTTPRequest: Sendable {
  var method: HTTPMethod
  /// The path without its query string.
  var path: String
  var headers: HTTPHeaders
  var body: ByteBuffer
}

/// Writes the response to one request: whole (`send`), or as a stream of chunks
/// (`start`, `write`..., `finish`) for server-sent events. A write to a client that has
/// gone throws.
struct HTTPResponseWriter: Sendable {
  fileprivate let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
  fileprivate let keepAlive: Bool

  func send(_ status: HTTPResponseStatus, contentType: String, body: ByteBuffer) async throws {
    var headers = baseHeaders(contentType)
    headers.add(name: "content-length", value: "\(body.readableBytes)")
    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
    try await outbound.write(.body(.byteBuffer(body)))
    try await outbound.write(.end(nil))
  }

  /// Starts a chunked response (no content-length).
  func start(_ status: HTTPResponseStatus, contentType: String) async throws {
    var headers = baseHeaders(contentType)
    headers.add(name: "cache-control", value: "no-cache")
    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
  }

  func write(_ chunk: ByteBuffer) async throws { try await outbound.write(.body(.byteBuffer(chunk))) }

  func finish() async throws { try await outbound.write(.end(nil)) }

  private func baseHeaders(_ contentType: String) -> HTTPHeaders {
    HTTPHeaders([("content-type", contentType), ("connection", keepAlive ? "keep-alive" : "close")])
  }
}

/// zood's HTTP/1.1 listener, on swift-nio's HTTP codec (no web framework: the API has a
/// handful of fixed routes). Each connection answers its requests in order; when the
/// client goes away mid-response, the response's task is cancelled, which cancels the
/// request inside zood as a gRPC client's cancel does.
final class HTTPListener: Sendable {
  typealias Handler = @Sendable (HTTPRequest, HTTPResponseWriter) async -> Void
  typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

  /// The largest request body accepted; larger ones get 413 (zood's own per-request
  /// limits are far below it and answer with a sentence).
  static let maxBodyBytes = 64 << 20

  let address: HTTPAddress
  private let server: NIOAsyncChannel<Connection, Never>
  private let idleTimeout: Duration
  /// Connections, and whether each is answering a request; shutdown closes idle ones at
  /// once and busy ones after their response.
  private let connections = Mutex<(open: [ObjectIdentifier: (channel: any Channel, busy: Bool)], stopping: Bool)>(([:], false))

  private init(address: HTTPAddress, server: NIOAsyncChannel<Connection, Never>, idleTimeout: Duration) {
    self.address = address
    self.server = server
    self.idleTimeout = idleTimeout
  }

  /// Binds `address` (a Unix socket is created 0600, replacing a stale one).
  static func bind(_ address: HTTPAddress, idleTimeout: Duration) async throws -> HTTPListener {
    let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        return try Connection(wrappingChannelSynchronously: channel)
      }
    }
    let server: NIOAsyncChannel<Connection, Never>
    switch address {
    case .unix(let path):
      try Daemon.prepareSocketPath(path, flag: "--http unix:PATH")
      let oldMask = umask(0o177)
      defer { umask(oldMask) }
      server = try await bootstrap.bind(unixDomainSocketPath: path, childChannelInitializer: initializer)
      chmod(path, 0o600)
    case .tcp(let host, let port):
      server = try await bootstrap.bind(host: host, port: port, childChannelInitializer: initializer)
    }
    return HTTPListener(address: address, server: server, idleTimeout: idleTimeout)
  }

  /// Serves connections until `stop`; returns once every connection has closed.
  func serve(_ handler: @escaping Handler) async throws {
    try await withThrowingDiscardingTaskGroup { group in
      try await server.executeThenClose { inbound in
        for try await connection in inbound {
          group.addTask { await self.serve(connection, handler) }
        }
      }
    }
    if case .unix(let path) = address { unlink(path) }
  }

  /// Stops accepting; idle connections close now, busy ones after their response.
  func stop() {
    let idle = connections.withLock { state in
      state.stopping = true
      return state.open.values.filter { !$0.busy }.map(\.channel)
    }
    server.channel.close(promise: nil)
    idle.forEach { $0.close(promise: nil) }
  }

  private func serve(_ connection: Connection, _ handler: @escaping Handler) async {
    let channel = connection.channel
    let id = ObjectIdentifier(channel)
    let admitted = connections.withLock { state in
      guard !state.stopping else { return false }
      state.open[id] = (channel, false)
      return true
    }
    defer { _ = connections.withLock { $0.open.removeValue(forKey: id) } }
    guard admitted else { return channel.close(promise: nil) }
    try? await channel.pipeline.addHandler(
      IdleConnectionCloser(timeout: idleTimeout, hasCalls: { [self] in connections.withLock { $0.open[id]?.busy ?? false } }),
      position: .first)

    try? await connection.executeThenClose { inbound, outbound in
      // Requests are read in their own task, so that the end of the inbound stream (the
      // client closed the connection) cancels the response being written.
      let (requests, continuation) = AsyncStream.makeStream(of: HTTPRequest?.self)
      await withTaskGroup(of: Bool.self) { group in
        group.addTask {  // the reader: false when it ends
          defer { continuation.finish() }
          var head: HTTPRequestHead?
          var body = channel.allocator.buffer(capacity: 0)
          do {
            for try await part in inbound {
              switch part {
              case .head(let h):
                head = h
                body.clear()
              case .body(var chunk):
                guard body.readableBytes + chunk.readableBytes <= Self.maxBodyBytes else {
                  continuation.yield(nil)  // answered 413, then closed
                  return false
                }
                body.writeBuffer(&chunk)
              case .end:
                guard let h = head else { continue }
                let path = String(h.uri.prefix { $0 != "?" })
                continuation.yield(HTTPRequest(method: h.method, path: path, headers: h.headers, body: body))
                head = nil
                body = channel.allocator.buffer(capacity: 0)
              }
            }
          } catch {}
          return false
        }
        group.addTask {  // the responder: true when it ends (the connection is to close)
          for await request in requests {
            guard let request else {
              try? await HTTPResponseWriter(outbound: outbound, keepAlive: false).send(
                .payloadTooLarge, contentType: "application/json",
                body: OpenAIError(.payloadTooLarge, "the request body is over \(Self.maxBodyBytes >> 20) MiB").json)
              return true
            }
            let keepAlive =
              request.headers["connection"].allSatisfy { $0.lowercased() != "close" }
              && !self.connections.withLock { $0.stopping }
            self.connections.withLock { $0.open[id]?.busy = true }
            await handler(request, HTTPResponseWriter(outbound: outbound, keepAlive: keepAlive))
            let stopping = self.connections.withLock { state in
              state.open[id]?.busy = false
              return state.stopping
            }
            if !keepAlive || stopping { return true }
          }
          return true
        }
        // The responder is done (close the connection), or the client closed it while a
        // response was being written: that response is for nobody, so cancel it (and the
        // request behind it). A reader that ended otherwise leaves the responder to finish.
        if await group.next()! || !channel.isActive { group.cancelAll() }
      }
    }
  }
}
