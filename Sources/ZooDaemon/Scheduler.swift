import Foundation
import Synchronization
import ZooABI

/// Who runs on a model and when: its slots (at most `parallel` requests at once), the
/// queue of requests waiting for one (at most `maxQueue`, then RESOURCE_EXHAUSTED, as
/// Ollama's OLLAMA_MAX_QUEUE), the keep-alive, and what the running requests hold. One
/// per loaded model; the model's weights and tokenizer live in `LoadedModel`.
final class Scheduler: Sendable {
  /// A running request's progress, written by its decoder thread without a lock.
  final class Activity: Sendable {
    /// Tokens in the request's state (prompt and generated).
    let tokens = Atomic<Int>(0)
  }

  private struct State {
    var active = 0
    var running: [ObjectIdentifier: Activity] = [:]
    var waiting: [(request: RequestContext, continuation: CheckedContinuation<Void, any Error>)] = []
    var lastUsed = ContinuousClock.now
    var keepAlive: Duration
  }
  private let state: Mutex<State>
  let modelName: String
  let parallel: Int
  let maxQueue: Int

  init(modelName: String, parallel: Int, maxQueue: Int, keepAlive: Duration) {
    self.modelName = modelName
    self.parallel = parallel
    self.maxQueue = maxQueue
    state = Mutex(State(keepAlive: keepAlive))
  }

  /// Waits for a free slot. Throws RESOURCE_EXHAUSTED when the queue is full and
  /// CANCELLED when `request` is cancelled while waiting.
  func acquire(for request: RequestContext) async throws {
    let mustWait: Bool = try state.withLock { s in
      if s.active < parallel {
        s.active += 1
        publish(s)
        return false
      }
      guard s.waiting.count < maxQueue else {
        throw ZooError.resourceExhausted(
          "model '\(modelName)' is busy: \(s.active) running and \(s.waiting.count) queued (limit \(maxQueue)); retry later or raise zood --max-queue")
      }
      return true
    }
    guard mustWait else { return }
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      let cancelledAlready = state.withLock { s in
        if request.isCancelled { return true }
        s.waiting.append((request, c))
        publish(s)
        return false
      }
      if cancelledAlready { c.resume(throwing: ZooError.cancelled("cancelled while waiting for a slot")) }
    }
  }

  /// Takes a cancelled request out of the queue, if it is waiting there.
  func cancelWaiter(for request: RequestContext) {
    let waiter: CheckedContinuation<Void, any Error>? = state.withLock { s in
      guard let i = s.waiting.firstIndex(where: { $0.request === request }) else { return nil }
      defer { publish(s) }
      return s.waiting.remove(at: i).continuation
    }
    waiter?.resume(throwing: ZooError.cancelled("cancelled while waiting for a slot"))
  }

  /// Frees the slot taken by `acquire`: hands it to the oldest waiter, if any.
  func release() {
    let next: CheckedContinuation<Void, any Error>? = state.withLock { s in
      s.lastUsed = .now
      defer { publish(s) }
      if s.waiting.isEmpty {
        s.active -= 1
        return nil
      }
      return s.waiting.removeFirst().continuation
    }
    next?.resume()
  }

  /// The model's running and queued requests as metrics (called with the lock held, so
  /// the gauges change in the order the state does).
  private func publish(_ s: State) {
    ServingMetrics.scheduler(model: modelName, active: s.active, queued: s.waiting.count)
  }

  /// Registers a running request's activity (for `zoo ps`), until `finished`.
  func started(_ run: ObjectIdentifier, _ activity: Activity) { state.withLock { $0.running[run] = activity } }
  func finished(_ run: ObjectIdentifier) { _ = state.withLock { $0.running.removeValue(forKey: run) } }

  struct Snapshot {
    var active: Int
    var queued: Int
    var idle: Duration
    var keepAlive: Duration
    /// Tokens held by each running request's state.
    var runningTokens: [Int]
  }

  var snapshot: Snapshot {
    state.withLock { s in
      Snapshot(
        active: s.active, queued: s.waiting.count, idle: s.active > 0 ? .zero : .now - s.lastUsed,
        keepAlive: s.keepAlive, runningTokens: s.running.values.map { $0.tokens.load(ordering: .relaxed) })
    }
  }

  func setKeepAlive(_ d: Duration) { state.withLock { $0.keepAlive = d } }

  /// True when nothing runs or waits and the keep-alive has passed.
  var expired: Bool {
    state.withLock { s in
      s.active == 0 && s.waiting.isEmpty && s.keepAlive > .zero && ContinuousClock.now - s.lastUsed >= s.keepAlive
    }
  }
}
