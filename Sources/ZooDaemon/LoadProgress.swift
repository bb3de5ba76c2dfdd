import Synchronization
import ZooProto

/// Progress of one model's load, shared by everyone waiting on it: zood reports the
/// bytes of weights it has read, then the plugin reports while it builds the model
/// (zoo_host_api.progress with no request). A watcher that joins gets the latest
/// report at once, then every later one.
final class LoadProgress: Sendable {
  typealias Watcher = @Sendable (Zoo_V1_LoadModelProgress) -> Void

  private let state = Mutex<(latest: Zoo_V1_LoadModelProgress?, watchers: [Watcher])>((nil, []))

  /// The load running on this thread, for the plugin's progress calls during `load`
  /// (they carry no request to tell which load they belong to).
  @TaskLocal static var current: LoadProgress?

  func watch(_ watcher: @escaping Watcher) {
    let latest = state.withLock { s in
      s.watchers.append(watcher)
      return s.latest
    }
    if let latest { watcher(latest) }
  }

  func report(stage: String, fraction: Double, doneBytes: UInt64 = 0, totalBytes: UInt64 = 0) {
    let update = Zoo_V1_LoadModelProgress.with {
      $0.stage = stage
      $0.fraction = min(max(fraction, 0), 1)
      $0.doneBytes = doneBytes
      $0.totalBytes = totalBytes
    }
    let watchers = state.withLock { s in
      s.latest = update
      return s.watchers
    }
    for watcher in watchers { watcher(update) }
  }
}
