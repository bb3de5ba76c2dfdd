import CZooPlugin
import Foundation
import Logging
import Synchronization
import ZooABI
import ZooCore

/// One generation request as plugins see it (the opaque zoo_request): its
/// cancellation flag, set by a client cancel, disconnect, deadline or shutdown.
public final class RequestContext: Sendable {
  private let cancelled = Atomic<Bool>(false)
  private let _services = Mutex<RequestServices?>(nil)

  public init() {}

  /// What the host's text services use for this request, set once its model is known.
  var services: RequestServices? {
    get { _services.withLock { $0 } }
    set { _services.withLock { $0 = newValue } }
  }

  public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
  public func cancel() { cancelled.store(true, ordering: .releasing) }

  /// The pointer handed across the ABI; valid while `self` is alive.
  var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }
}

/// What a request's host services work with: the model it runs on (its tokenizer), if
/// it has one (a middleware's RPC has none), and the runtime (for models by name).
struct RequestServices: Sendable {
  let model: LoadedModel?
  let runtime: Runtime

  /// The tokenizer of the request's own model.
  func tokenizer() throws -> any Tokenizer {
    guard let model else {
      throw ZooError.failedPrecondition("this call runs on no model, so it has no tokenizer; name one with tokenize_with")
    }
    return try model.tokenizer.get()
  }
}

/// The zoo_host_api table zood gives each plugin: logging tagged with the plugin's
/// file name, cancellation polling, progress, (since ABI 1.2) tokenize, detokenize
/// and embed for the request's model, and (since 1.5) tokenize under a named model.
/// One per plugin, never freed (plugins keep the pointer for the life of the process).
/// The table is written once, in init.
final class HostServices: @unchecked Sendable {
  let logger: Logger
  let table: UnsafeMutablePointer<zoo_host_api>

  init(pluginName: String, logger base: Logger) {
    var logger = base
    logger[metadataKey: "plugin"] = "\(pluginName)"
    self.logger = logger
    table = UnsafeMutablePointer<zoo_host_api>.allocate(capacity: 1)
    table.initialize(to: zoo_host_api(
      size: UInt32(MemoryLayout<zoo_host_api>.size), abi_major: UInt16(ZOO_ABI_MAJOR),
      abi_minor: UInt16(ZOO_ABI_MINOR), host_context: nil,
      log: { context, level, message in
        guard let context, let message else { return }
        let services = Unmanaged<HostServices>.fromOpaque(context).takeUnretainedValue()
        let levels: [Logger.Level] = [.trace, .debug, .info, .warning, .error]
        services.logger.log(level: levels[Int(max(0, min(level, 4)))], "\(String(cString: message))")
      },
      is_cancelled: { _, request in
        guard let request else { return 0 }
        return Unmanaged<RequestContext>.fromOpaque(UnsafeRawPointer(request)).takeUnretainedValue().isCancelled ? 1 : 0
      },
      progress: { context, request, fraction, what in
        guard let context else { return }
        let services = Unmanaged<HostServices>.fromOpaque(context).takeUnretainedValue()
        let label = what.map { String(cString: $0) } ?? ""
        services.logger.debug("progress \(Int(fraction * 100))% \(label)")
        // Without a request the call comes from a model's load, on the loading thread.
        if request == nil, let load = LoadProgress.current {
          load.report(stage: label.isEmpty ? "building the model" : label, fraction: fraction)
        }
      },
      tokenize: { _, request, text, length, out, capacity, count, err in
        HostServices.serve(request, err) { services in
          let ids = try services.tokenizer().encode(HostServices.string(text, length))
          return try HostServices.deliver(ids, to: out, capacity: capacity, count: count)
        }
      },
      detokenize: { _, request, tokens, n, out, capacity, count, err in
        HostServices.serve(request, err) { services in
          let tokenizer = try services.tokenizer()
          let ids = tokens.map { Array(UnsafeBufferPointer(start: $0, count: Int(max(0, n)))) } ?? []
          let bytes = ids.flatMap { tokenizer.bytes(of: $0) }.map { CChar(bitPattern: $0) }
          return try HostServices.deliver(bytes, to: out, capacity: capacity, count: count)
        }
      },
      embed: { _, request, model, text, length, out, capacity, count, err in
        HostServices.serve(request, err) { services in
          guard let model else { throw ZooError.invalidArgument("embed needs a model name") }
          let name = String(cString: model)
          let string = HostServices.string(text, length)
          let context = Unmanaged<RequestContext>.fromOpaque(UnsafeRawPointer(request!)).takeUnretainedValue()
          // The caller is a plugin's own thread (middleware, decoder), never the async pool.
          let vector = try HostServices.blocking { try await services.runtime.embedText(string, model: name, request: context) }
          return try HostServices.deliver(vector, to: out, capacity: capacity, count: count)
        }
      },
      tokenize_with: { _, request, model, text, length, out, capacity, count, err in
        HostServices.serve(request, err) { services in
          guard let model else { throw ZooError.invalidArgument("tokenize_with needs a model name") }
          let name = String(cString: model)
          let loaded = try HostServices.blocking { try await services.runtime.model(name) }
          let ids = try loaded.tokenizer.get().encode(HostServices.string(text, length))
          return try HostServices.deliver(ids, to: out, capacity: capacity, count: count)
        }
      }))
    // Retained forever: the plugin may call back at any time.
    table.pointee.host_context = Unmanaged.passRetained(self).toOpaque()
  }
}

extension HostServices {
  /// A plugin's `length` bytes of UTF-8 as a string (invalid bytes become U+FFFD).
  fileprivate static func string(_ text: UnsafePointer<CChar>?, _ length: Int) -> String {
    guard let text else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
  }

  /// Runs a text service for `request`, writing a failure into `err`.
  fileprivate static func serve(
    _ request: OpaquePointer?, _ err: UnsafeMutablePointer<zoo_error>?, _ body: (RequestServices) throws -> Int32
  ) -> Int32 {
    do {
      guard let request,
        let services = Unmanaged<RequestContext>.fromOpaque(UnsafeRawPointer(request)).takeUnretainedValue().services
      else { throw ZooError.failedPrecondition("this call has no request with a model; the text services need one") }
      return try body(services)
    } catch let e as ZooError {
      return PluginError(e.pluginStatus, e.message).write(to: err)
    } catch let e as PluginError {
      return e.write(to: err)
    } catch {
      return PluginError.internalError("\(error)").write(to: err)
    }
  }

  /// The host's output rule: the needed count always, the elements only when they fit.
  fileprivate static func deliver<T>(
    _ values: [T], to out: UnsafeMutablePointer<T>?, capacity: Int64, count: UnsafeMutablePointer<Int64>?
  ) throws -> Int32 {
    count?.pointee = Int64(values.count)
    guard values.count <= capacity, let out else {
      if values.isEmpty { return 0 }
      return Int32(ZOO_ERR_RESOURCE_EXHAUSTED.rawValue)
    }
    out.update(from: values, count: values.count)
    return 0
  }

  /// Waits on this (plugin-owned) thread for async work.
  fileprivate static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, any Error>!
    Task {
      do { result = .success(try await work()) } catch { result = .failure(error) }
      done.signal()
    }
    done.wait()
    return try result.get()
  }
}
