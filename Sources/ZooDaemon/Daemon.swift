import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import Prometheus
import ZooCore
import ZooSocket
import ZooRPC

#if canImport(Glibc)
import Glibc
#endif

/// Everything zood needs to start.
public struct DaemonConfiguration: Sendable {
  public var socketPath: String
  public var modelFolders: [String]
  public var pluginFolders: [String]
  public var limits: ServingLimits
  public var connections: ConnectionLimits
  /// Plugins whose models run in worker processes (zood --isolate); nil = none.
  public var isolation: IsolationPolicy?
  /// Set in a worker: the zood that started it. The worker stops when that process is gone.
  public var parentProcess: Int32?
  /// The OpenAI-compatible HTTP listener (zood --http); nil = none.
  public var http: HTTPSettings?
  /// Where swift-metrics was bootstrapped to record, served at /metrics and by
  /// GetMetrics; nil = no metrics (a worker).
  public var metrics: PrometheusCollectorRegistry?

  public init(
    socketPath: String, modelFolders: [String], pluginFolders: [String], limits: ServingLimits,
    connections: ConnectionLimits = ConnectionLimits(), isolation: IsolationPolicy? = nil, parentProcess: Int32? = nil,
    http: HTTPSettings? = nil, metrics: PrometheusCollectorRegistry? = nil
  ) {
    self.socketPath = socketPath
    self.modelFolders = modelFolders
    self.pluginFolders = pluginFolders
    self.limits = limits
    self.connections = connections
    self.isolation = isolation
    self.parentProcess = parentProcess
    self.http = http
    self.metrics = metrics
  }
}

/// Where the OpenAI-compatible HTTP API listens, and the key it requires.
public struct HTTPSettings: Sendable {
  public var address: HTTPAddress
  /// Requests must send `Authorization: Bearer KEY`; nil = no key.
  public var apiKey: String?

  public init(address: HTTPAddress, apiKey: String?) {
    self.address = address
    self.apiKey = apiKey
  }
}

/// A failure to start, with what to do about it.
public struct StartupError: Error, CustomStringConvertible {
  public let description: String
}

/// zood: loads plugins, serves zoo.v1.Zoo and grpc.health.v1.Health on a Unix socket
/// (no TCP), and shuts down cleanly on SIGTERM/SIGINT.
public enum Daemon {
  public static func run(_ config: DaemonConfiguration, logger: Logger) async throws {
    ServiceNotify.claim(isWorker: config.parentProcess != nil)
    try prepareSocketPath(config.socketPath)

    let loader = PluginLoader(logger: logger)
    let records = loader.load(paths: loader.discover(in: config.pluginFolders))
    if let isolation = config.isolation {
      do {
        try FileManager.default.createDirectory(
          atPath: isolation.socketFolder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      } catch {
        throw StartupError(description: "cannot create the workers' socket folder \(isolation.socketFolder): \(error)")
      }
    }
    defer { if let isolation = config.isolation { try? FileManager.default.removeItem(atPath: isolation.socketFolder) } }
    let runtime = Runtime(
      plugins: records, repository: ModelRepository(roots: config.modelFolders, logger: logger), limits: config.limits,
      isolation: config.isolation, logger: logger)
    for model in runtime.listModels() {
      logger.info(
        "model \(model.name): \(model.modelType) \(model.available ? "available" : "UNAVAILABLE: \(model.unavailableReason)")")
    }

    let shutdown = ShutdownSignal()
    let transport = transport(
      socketPath: config.socketPath, limits: config.connections,
      budget: ConnectionBudget.fromDescriptorLimit(idleTimeout: config.connections.idleTimeout, logger: logger))
    let service = ZooService(runtime: runtime, shutdown: shutdown, logger: logger, metrics: config.metrics)
    let server = GRPCServer(transport: transport, services: [service, HealthService(shutdown: shutdown)])
    let http: HTTPListener?
    if let settings = config.http {
      do {
        http = try await HTTPListener.bind(settings.address, idleTimeout: config.connections.idleTimeout)
      } catch let error as StartupError {
        throw error
      } catch {
        throw StartupError(description: "cannot listen for HTTP on \(settings.address): \(error)")
      }
    } else {
      http = nil
    }

    // Only the owner may connect: the socket is created 0600 (umask while binding).
    let oldMask = umask(0o177)
    var restored = false
    defer { if !restored { umask(oldMask) } }

    let grace = config.connections.shutdownGrace
    let socketPath = config.socketPath
    let signals = installSignalHandlers { signal in
      if signal == SIGHUP {
        // Rescan the models folders now (as ListModels does); loaded models are kept.
        ServiceNotify.send("RELOADING=1")
        let folders = runtime.repository.scan()
        logger.info("received SIGHUP: rescanned the models folders, \(folders.count) models")
        ServiceNotify.send("READY=1")
        return
      }
      logger.info("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
      ServiceNotify.send("STOPPING=1")
      shutdown.begin()
      server.beginGracefulShutdown()
      http?.stop()
      // Workers end their streams themselves (each client gets the worker's final status).
      runtime.stopWorkers(grace: grace)
      // Running requests were cancelled and stop at their next step; a client that reads
      // nothing can still hold its stream open. Past the grace time, exit anyway.
      DispatchQueue.global().asyncAfter(deadline: .now() + grace.seconds) {
        logger.warning("requests still open \(grace) after the stop signal: exiting without them")
        unlink(socketPath)
        fflush(nil)
        _exit(0)
      }
    }
    defer { signals.forEach { $0.cancel() } }

    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      if let http, let settings = config.http {
        let api = OpenAIAPI(service: service, apiKey: settings.apiKey)
        group.addTask { try await http.serve { request, writer in await api.respond(to: request, with: writer) } }
        logger.info("zood serving the OpenAI API on \(http.address)\(settings.apiKey == nil ? "" : " (API key required)")")
      }
      group.addTask {
        // Unload models idle past their keep-alive, or whose files changed.
        while !shutdown.isShuttingDown {
          try? await Task.sleep(for: .seconds(1))
          await runtime.unloadExpiredAndChanged()
          // A worker whose zood is gone (killed, crashed) stops as if told to.
          if let parent = config.parentProcess, getppid() != parent {
            logger.warning("the zood that started this worker (pid \(parent)) is gone: stopping")
            kill(getpid(), SIGTERM)
            return
          }
        }
      }
      _ = try await transport.listeningAddress
      umask(oldMask)
      restored = true
      chmod(config.socketPath, 0o600)
      logger.info("zood listening on unix://\(config.socketPath)")
      // systemd (Type=notify) counts zood as started only now, with the socket there.
      ServiceNotify.send("READY=1\nSTATUS=listening on unix://\(config.socketPath)\nMAINPID=\(getpid())")
    }
    unlink(config.socketPath)
    logger.info("zood stopped")
  }

  /// Creates the socket's folder (0700 when zood creates it), replaces a stale socket,
  /// and refuses a live one or a path that is not a socket.
  static func prepareSocketPath(_ path: String, flag: String = "--socket") throws {
    let folder = (path as NSString).deletingLastPathComponent
    guard path.utf8.count < 108 else {
      throw StartupError(description: "socket path \(path) is \(path.utf8.count) bytes; Unix sockets allow 107: use a shorter \(flag)")
    }
    var st = stat()
    if stat(folder, &st) != 0 {
      do {
        try FileManager.default.createDirectory(
          atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      } catch {
        throw StartupError(description: "cannot create socket folder \(folder): \(error)")
      }
    }
    guard lstat(path, &st) == 0 else { return }
    guard st.st_mode & S_IFMT == S_IFSOCK else {
      throw StartupError(description: "\(path) exists and is not a socket; refusing to replace it: remove it or use another \(flag)")
    }
    if UnixSocket.isAccepting(path) {
      throw StartupError(description: "another zood is already serving on \(path); stop it first, or start this one with another \(flag)")
    }
    unlink(path)  // stale: nobody listens
  }

  private static func installSignalHandlers(_ handler: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
    [SIGTERM, SIGINT, SIGHUP].map { sig in
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler { handler(sig) }
      source.resume()
      return source
    }
  }
}
