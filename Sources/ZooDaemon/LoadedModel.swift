import CZooPlugin
import Foundation
import Synchronization
import ZooCore
import ZooPluginKit

/// A model in memory: its weights (read from the files), the plugin's handle, and its slots. Each
/// model runs at most `parallel` requests at once; up to `maxQueue` more wait; past
/// that a request is refused (RESOURCE_EXHAUSTED), as Ollama's OLLAMA_MAX_QUEUE does.
public final class LoadedModel: @unchecked Sendable {
  public let folder: ModelFolder
  public let plugin: LoadedPlugin
  public let handle: ModelHandle
  public let weightBytes: Int
  /// The tokenizer for text prompts, or why there is none.
  let tokenizer: Result<any Tokenizer, ZooError>
  private let files: [SafetensorsFile]
  // The zoo_weights table handed to the plugin, kept alive until unload.
  private let names: [UnsafeMutablePointer<CChar>]
  private let views: UnsafeMutableBufferPointer<zoo_tensor_view>
  private let namePointers: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>

  private struct Slots {
    var active = 0
    var activeTokens: [ObjectIdentifier: Int] = [:]
    var waiting: [(request: RequestContext, continuation: CheckedContinuation<Void, any Error>)] = []
    var lastUsed = ContinuousClock.now
    var keepAlive: Duration
  }
  private let slots: Mutex<Slots>
  let parallel: Int
  let maxQueue: Int

  /// Reads the folder's weights and asks the plugin to build the model.
  init(folder: ModelFolder, plugin: LoadedPlugin, parallel: Int, maxQueue: Int, keepAlive: Duration) throws {
    guard let api = plugin.modelAPI(for: folder.modelType) else {
      throw ZooError.unavailable("plugin '\(plugin.name)' gave no table for model type '\(folder.modelType)'")
    }
    let files: [SafetensorsFile]
    do {
      files = try folder.weightFiles.map { try SafetensorsFile(path: $0) }
    } catch {
      throw ZooError.failedPrecondition("model '\(folder.name)' has a broken checkpoint: \(error)")
    }
    var entries: [TensorEntry] = []
    var seen = Set<String>()
    for file in files {
      for name in file.names {
        guard seen.insert(name).inserted else {
          throw ZooError.failedPrecondition("model '\(folder.name)': tensor '\(name)' appears in two safetensors files")
        }
        entries.append(file.tensors[name]!)
      }
    }
    names = entries.map { strdup($0.name)! }
    namePointers = .allocate(capacity: max(entries.count, 1))
    views = .allocate(capacity: max(entries.count, 1))
    for (i, e) in entries.enumerated() {
      namePointers[i] = UnsafePointer(names[i])
      views[i] = zoo_tensor_view(e)
    }
    self.files = files
    self.folder = folder
    self.plugin = plugin
    self.parallel = parallel
    self.maxQueue = maxQueue
    self.weightBytes = files.reduce(0) { $0 + $1.byteCount }
    self.slots = Mutex(Slots(keepAlive: keepAlive))
    self.tokenizer = folder.loadTokenizer()

    var weights = zoo_weights(
      size: UInt32(MemoryLayout<zoo_weights>.size), count: Int64(entries.count),
      names: UnsafePointer(namePointers.baseAddress), tensors: UnsafePointer(views.baseAddress))
    var model: OpaquePointer?
    var err = zoo_error.empty
    let rc = folder.modelType.withCString { type in
      folder.configJSON.withCString { config in
        folder.path.withCString { path in
          withUnsafePointer(to: &weights) { w in
            var args = zoo_model_load_args(
              size: UInt32(MemoryLayout<zoo_model_load_args>.size), model_type: type, config_json: config,
              folder: path, weights: w, host: UnsafePointer(plugin.host.table))
            return api.pointee.load(&args, &model, &err)
          }
        }
      }
    }
    guard rc == 0, let model else {
      Self.free(names, namePointers, views)
      throw ZooError.fromPlugin(
        rc, PluginError(code: rc, from: err).message, context: "loading model '\(folder.name)'")
    }
    do {
      handle = try ModelHandle(api: api, model: model)
    } catch {
      api.pointee.unload(model)
      Self.free(names, namePointers, views)
      throw ZooError.internalError("model '\(folder.name)' loaded but cannot describe itself: \(error)")
    }
  }

  deinit {
    // Every state is gone (requests hold a strong reference to this model while they
    // run), so the plugin can drop the model; then the weights' memory goes.
    handle.api.pointee.unload(handle.model)
    Self.free(names, namePointers, views)
  }

  private static func free(
    _ names: [UnsafeMutablePointer<CChar>], _ pointers: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>,
    _ views: UnsafeMutableBufferPointer<zoo_tensor_view>
  ) {
    names.forEach { Foundation.free($0) }
    pointers.deallocate()
    views.deallocate()
  }

  // MARK: Slots

  /// Waits for a free slot. Throws RESOURCE_EXHAUSTED when the queue is full and
  /// CANCELLED when `request` is cancelled while waiting.
  func acquireSlot(for request: RequestContext) async throws {
    let mustWait: Bool = try slots.withLock { s in
      if s.active < parallel {
        s.active += 1
        return false
      }
      guard s.waiting.count < maxQueue else {
        throw ZooError.resourceExhausted(
          "model '\(folder.name)' is busy: \(s.active) running and \(s.waiting.count) queued (limit \(maxQueue)); retry later or raise zood --max-queue")
      }
      return true
    }
    guard mustWait else { return }
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      let cancelledAlready = slots.withLock { s in
        if request.isCancelled { return true }
        s.waiting.append((request, c))
        return false
      }
      if cancelledAlready { c.resume(throwing: ZooError.cancelled("cancelled while waiting for a slot")) }
    }
  }

  /// Takes a cancelled request out of the queue, if it is waiting there.
  func cancelWaiter(for request: RequestContext) {
    let waiter: CheckedContinuation<Void, any Error>? = slots.withLock { s in
      guard let i = s.waiting.firstIndex(where: { $0.request === request }) else { return nil }
      return s.waiting.remove(at: i).continuation
    }
    waiter?.resume(throwing: ZooError.cancelled("cancelled while waiting for a slot"))
  }

  /// Frees the slot taken by `acquireSlot`: hands it to the oldest waiter, if any.
  func releaseSlot() {
    let next: CheckedContinuation<Void, any Error>? = slots.withLock { s in
      s.lastUsed = .now
      if s.waiting.isEmpty {
        s.active -= 1
        return nil
      }
      return s.waiting.removeFirst().continuation
    }
    next?.resume()
  }

  /// Records how many tokens a running request's state holds, for `zoo ps`.
  func track(_ run: ObjectIdentifier, tokens: Int?) {
    slots.withLock { s in s.activeTokens[run] = tokens }
  }

  struct Activity {
    var active: Int
    var queued: Int
    var idle: Duration
    var keepAlive: Duration
    var stateBytes: Int
  }

  var activity: Activity {
    slots.withLock { s in
      let info = handle.info
      let stateBytes =
        info.stateIsFixed
        ? s.activeTokens.count * info.stateBytes : s.activeTokens.values.reduce(0, +) * info.stateBytes
      return Activity(
        active: s.active, queued: s.waiting.count, idle: s.active > 0 ? .zero : .now - s.lastUsed,
        keepAlive: s.keepAlive, stateBytes: stateBytes)
    }
  }

  func setKeepAlive(_ d: Duration) { slots.withLock { $0.keepAlive = d } }

  /// True when nothing runs or waits and the keep-alive has passed.
  var expired: Bool {
    slots.withLock { s in
      s.active == 0 && s.waiting.isEmpty && s.keepAlive > .zero && ContinuousClock.now - s.lastUsed >= s.keepAlive
    }
  }
}
