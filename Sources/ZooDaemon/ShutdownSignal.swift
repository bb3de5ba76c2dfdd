import Synchronization

/// Tracks running requests so that shutdown can cancel them all, and tells the health
/// service when zood stops serving.
public final class ShutdownSignal: Sendable {
  private struct State {
    var next = 0
    var running: [Int: RequestContext] = [:]
    var shuttingDown = false
    var watchers: [Int: AsyncStream<Void>.Continuation] = [:]
  }
  private let state = Mutex(State())

  public init() {}

  /// Registers a running request; a request registered during shutdown is cancelled at once.
  func register(_ request: RequestContext) -> Int {
    state.withLock { s in
      s.next += 1
      s.running[s.next] = request
      if s.shuttingDown { request.cancel() }
      return s.next
    }
  }

  func unregister(_ token: Int) {
    _ = state.withLock { $0.running.removeValue(forKey: token) }
  }

  public var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

  /// Cancels every running request (their decoders stop at the next step) and wakes
  /// health watchers.
  public func begin() {
    let (requests, watchers) = state.withLock { s in
      s.shuttingDown = true
      return (Array(s.running.values), Array(s.watchers.values))
    }
    requests.forEach { $0.cancel() }
    watchers.forEach { $0.yield(); $0.finish() }
  }

  /// A stream that yields once when shutdown begins.
  func shutdownEvents() -> AsyncStream<Void> {
    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    state.withLock { s in
      if s.shuttingDown {
        continuation.yield()
        continuation.finish()
      } else {
        s.next += 1
        s.watchers[s.next] = continuation
      }
    }
    return stream
  }
}
