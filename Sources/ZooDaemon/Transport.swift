import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How zood's gRPC listener treats connections: limits a careful server sets, since the
/// transport's defaults keep every connection forever and leave HTTP/2's stream limit
/// unadvertised.
public struct ConnectionLimits: Sendable {
  /// A connection with no RPC for this long is closed (also one that never sends
  /// anything: a half-open handshake holds a descriptor too).
  public var idleTimeout: Duration
  /// Streams one connection may have open, advertised in SETTINGS_MAX_CONCURRENT_STREAMS
  /// so clients queue beyond it instead of having the connection torn down.
  public var streamsPerConnection: Int
  /// The largest request message the transport accepts. Above zood's own per-request
  /// limits (`RequestLimits`), so a large request gets zood's RESOURCE_EXHAUSTED with
  /// the limit in words rather than a stream reset.
  public var maxMessageBytes: Int
  /// After SIGTERM, how long running requests get to finish before zood exits anyway.
  public var shutdownGrace: Duration

  public init(
    idleTimeout: Duration = .seconds(300), streamsPerConnection: Int = 256, maxMessageBytes: Int = 64 << 20,
    shutdownGrace: Duration = .seconds(10)
  ) {
    self.idleTimeout = idleTimeout
    self.streamsPerConnection = streamsPerConnection
    self.maxMessageBytes = maxMessageBytes
    self.shutdownGrace = shutdownGrace
  }
}

extension Daemon {
  /// The Unix-socket transport with `limits` and a connection budget drawn from the
  /// process's file-descriptor limit.
  static func transport(
    socketPath: String, limits: ConnectionLimits, budget: ConnectionBudget
  ) -> HTTP2ServerTransport.Posix {
    var config = HTTP2ServerTransport.Posix.Config.defaults
    config.connection.maxIdleTime = limits.idleTimeout
    config.connection.maxGraceTime = limits.shutdownGrace
    config.http2.maxConcurrentStreams = limits.streamsPerConnection
    config.rpc.maxRequestPayloadSize = limits.maxMessageBytes
    config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in budget.admit(channel) }
    config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in budget.track(stream) }
    return HTTP2ServerTransport.Posix(
      address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext, config: config)
  }
}

/// Caps the connections zood holds so that descriptors stay free for what requests need
/// (model files, plugins, logs): past the cap a new connection is closed at once and
/// logged, instead of zood running out of descriptors and failing every request. And
/// closes connections that hold no call and have sent nothing for `idleTimeout`: the
/// transport's own idle close waits for the client to answer a PING, so a client that
/// never answers (or never even sends the HTTP/2 preface) would keep its descriptor.
final class ConnectionBudget: Sendable {
  let capacity: Int
  let idleTimeout: Duration
  private let open = Atomic<Int>(0)
  private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)
  /// Open calls per connection channel.
  private let calls = Mutex<[ObjectIdentifier: Int]>([:])
  private let logger: Logger

  init(capacity: Int, idleTimeout: Duration, logger: Logger) {
    self.capacity = capacity
    self.idleTimeout = idleTimeout
    self.logger = logger
  }

  /// Descriptors kept back from connections for model files, plugins and logs.
  static let reserve = 64

  /// A budget from the descriptor limit, raised first to its hard maximum (the soft
  /// limit is often 1024 while the hard one is far higher).
  static func fromDescriptorLimit(idleTimeout: Duration, logger: Logger) -> ConnectionBudget {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < limit.rlim_max {
      var raised = limit
      raised.rlim_cur = limit.rlim_max
      if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    let descriptors = limit.rlim_cur >= rlim_t(1 << 20) ? 1 << 20 : Int(limit.rlim_cur)
    let budget = ConnectionBudget(capacity: max(8, descriptors - reserve), idleTimeout: idleTimeout, logger: logger)
    logger.info("file descriptor limit \(descriptors): serving at most \(budget.capacity) connections at once")
    return budget
  }

  /// Admits a new connection and watches it for idleness, or closes it at once when the
  /// budget is spent.
  func admit(_ channel: any Channel) -> EventLoopFuture<Void> {
    let count = open.wrappingAdd(1, ordering: .relaxed).newValue
    guard count <= capacity else {
      open.wrappingSubtract(1, ordering: .relaxed)
      warnAtMostEvery10s()
      // Failing the initializer alone leaves the socket open.
      channel.close(promise: nil)
      return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
    }
    let id = ObjectIdentifier(channel)
    calls.withLock { $0[id] = 0 }
    channel.closeFuture.whenComplete { _ in
      self.open.wrappingSubtract(1, ordering: .relaxed)
      self.calls.withLock { _ = $0.removeValue(forKey: id) }
    }
    return channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandler(
        IdleConnectionCloser(timeout: idleTimeout, hasCalls: { self.calls.withLock { ($0[id] ?? 0) > 0 } }),
        position: .first)
    }
  }

  /// Counts a call (an HTTP/2 stream) on its connection while it is open.
  func track(_ stream: any Channel) -> EventLoopFuture<Void> {
    if let connection = stream.parent {
      let id = ObjectIdentifier(connection)
      calls.withLock { $0[id, default: 0] += 1 }
      stream.closeFuture.whenComplete { _ in self.calls.withLock { if let n = $0[id] { $0[id] = n - 1 } } }
    }
    return stream.eventLoop.makeSucceededVoidFuture()
  }

  private func warnAtMostEvery10s() {
    let now = ContinuousClock.now
    let due = lastWarning.withLock { last in
      guard last.map({ now - $0 >= .seconds(10) }) ?? true else { return false }
      last = now
      return true
    }
    if due {
      logger.warning(
        "refused a connection: \(capacity) are open, the most this zood's file descriptor limit allows; idle ones close after zood's --idle-timeout, or raise the limit (ulimit -n)")
    }
  }
}

/// First in a connection's pipeline: closes the connection once it has had no call open
/// and sent no byte for `timeout`.
final class IdleConnectionCloser: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer

  private let timeout: Duration
  private let hasCalls: @Sendable () -> Bool
  private var lastRead = NIODeadline.now()
  private var check: RepeatedTask?

  init(timeout: Duration, hasCalls: @escaping @Sendable () -> Bool) {
    self.timeout = timeout
    self.hasCalls = hasCalls
  }

  func handlerAdded(context: ChannelHandlerContext) {
    let amount = TimeAmount.nanoseconds(Int64(timeout.seconds * 1e9))
    let period = max(TimeAmount.milliseconds(100), TimeAmount.nanoseconds(amount.nanoseconds / 4))
    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
    check = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [self] _ in
      if !hasCalls() && NIODeadline.now() - lastRead >= amount { bound.value.close(promise: nil) }
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) { check?.cancel() }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    lastRead = .now()
    context.fireChannelRead(data)
  }
}
