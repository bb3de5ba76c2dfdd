import CZooPlugin
import Foundation
import Logging
import Synchronization

/// One generation request as plugins see it (the opaque zoo_request): its
/// cancellation flag, set by a client cancel, disconnect, deadline or shutdown.
public final class RequestContext: Sendable {
  private let cancelled = Atomic<Bool>(false)

  public init() {}

  public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
  public func cancel() { cancelled.store(true, ordering: .releasing) }

  /// The pointer handed across the ABI; valid while `self` is alive.
  var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }
}

/// The zoo_host_api table zood gives each plugin: logging tagged with the plugin's
/// file name, cancellation polling, progress. One per plugin, never freed (plugins
/// keep the pointer for the life of the process). The table is written once, in init.
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
      progress: { context, _, fraction, what in
        guard let context else { return }
        let services = Unmanaged<HostServices>.fromOpaque(context).takeUnretainedValue()
        services.logger.debug("progress \(Int(fraction * 100))% \(what.map { String(cString: $0) } ?? "")")
      }))
    // Retained forever: the plugin may call back at any time.
    table.pointee.host_context = Unmanaged.passRetained(self).toOpaque()
  }
}
