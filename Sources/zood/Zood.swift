import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ZooCore
import ZooSocket
import ZooDaemon
import ZooProto

/// zood: the model-zoo daemon.
@main
struct Zood: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zood",
    abstract: "Serve a zoo of sequence models over gRPC on a Unix socket.",
    discussion: """
      Loads every plugin (*.so) in the --plugins folders and serves the model folders \
      (Hugging Face layout) in the --models folders. Clients: the zoo CLI, or any gRPC \
      client at unix://SOCKET. SIGTERM or SIGINT stop it cleanly.
      """)

  @Option(help: "Unix socket to listen on. Default: $ZOO_SOCKET, else $XDG_RUNTIME_DIR/zoo/zood.sock, else ~/.zoo/zood.sock.")
  var socket: String?

  @Option(name: .customLong("models"), help: "A folder of model folders (repeatable).")
  var modelFolders: [String] = []

  @Option(name: .customLong("plugins"), help: "A folder of plugin shared libraries (repeatable).")
  var pluginFolders: [String] = []

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = "info"

  @Option(help: "Log lines as text, or json: one object per line (time, level, label, message, metadata).")
  var logFormat: String = "text"

  @Option(
    help: """
      Requests each model runs at once; their decode steps run as one batch when the model \
      can batch them (continuous batching).
      """)
  var parallel: Int = 4

  @Option(help: "Requests that may wait per model; more are refused with RESOURCE_EXHAUSTED.")
  var maxQueue: Int = 16

  @Option(help: "Seconds an idle model stays loaded (0 = forever).")
  var keepAlive: Int = 300

  @Option(
    help: """
      Seconds a generation waits for a client that reads nothing; then it is stopped \
      (RESOURCE_EXHAUSTED) and its model slot freed.
      """)
  var stallTimeout: Int = 30

  @Option(help: "Seconds a connection with no request stays open.")
  var idleTimeout: Int = 300

  @Option(
    help: """
      Threads a matrix product may use (default: OpenBLAS's own, one per core). Small products \
      use one whatever this says, and decode steps split their rows as threads come free, so a \
      busy machine slows them without stalling them; 1 leaves every other core to other work.
      """)
  var blasThreads: Int?

  @Option(
    help: """
      Bytes of weights the loaded models may hold together, e.g. 512M or 4G (K, M, G, T: \
      powers of 1024). Loading past it unloads idle models, least recently used first; a model \
      that cannot fit is refused with RESOURCE_EXHAUSTED. Default: no budget.
      """)
  var maxMemory: String?

  @Flag(
    help: """
      Run every plugin's models in worker processes (one per model, restarted after a crash), \
      so a crash or hang in plugin code costs only the request it ran.
      """)
  var isolate = false

  @Option(name: .customLong("isolate-plugin"), help: "Run this plugin's models (manifest name) in worker processes (repeatable).")
  var isolatedPlugins: [String] = []

  @Option(
    help: """
      Under isolation, seconds a worker may send nothing while running a request before it \
      counts as hung: it is killed and restarted, and the request ends UNAVAILABLE.
      """)
  var hangTimeout: Int = 120

  @Option(help: .hidden)
  var workerOf: Int32?

  @Option(
    help: """
      Also serve the OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, \
      /v1/embeddings) \
      on unix:PATH (created 0600) or HOST:PORT (loopback only unless --http-allow-remote). \
      Off by default.
      """)
  var http: String?

  @Flag(help: "Let --http listen on an address other than loopback; requires --http-api-key-file.")
  var httpAllowRemote = false

  @Option(help: "A file holding the API key HTTP requests must send (Authorization: Bearer KEY).")
  var httpApiKeyFile: String?

  @Option(
    help: """
      Load this plugin file with zood's loader and checks, print its status (the manifest, or \
      why it would be FAILED) as JSON, and exit: 0 when READY, 1 when FAILED. `zoo plugin \
      check FILE` runs this in a child process.
      """)
  var checkPlugin: String?

  func validate() throws {
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("unknown --log-level '\(logLevel)'; use trace, debug, info, notice, warning, error or critical")
    }
    guard ["text", "json"].contains(logFormat) else {
      throw ValidationError("unknown --log-format '\(logFormat)'; use text or json")
    }
    guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
    guard maxQueue >= 0 else { throw ValidationError("--max-queue must be at least 0") }
    guard keepAlive >= 0 else { throw ValidationError("--keep-alive must be at least 0") }
    guard stallTimeout >= 1 else { throw ValidationError("--stall-timeout must be at least 1") }
    guard idleTimeout >= 1 else { throw ValidationError("--idle-timeout must be at least 1") }
    if let blasThreads, blasThreads < 1 { throw ValidationError("--blas-threads must be at least 1") }
    guard hangTimeout >= 1 else { throw ValidationError("--hang-timeout must be at least 1") }
    if let http {
      guard let address = HTTPAddress(http) else {
        throw ValidationError("--http '\(http)' is not an address: give unix:PATH or HOST:PORT (e.g. 127.0.0.1:8080)")
      }
      if !address.isLoopback && !httpAllowRemote {
        throw ValidationError("--http \(http) is not a loopback address: add --http-allow-remote (with --http-api-key-file) to serve the network")
      }
      if httpAllowRemote && httpApiKeyFile == nil {
        throw ValidationError("--http-allow-remote needs --http-api-key-file: zood never listens to the network without a key")
      }
    } else if httpAllowRemote || httpApiKeyFile != nil {
      throw ValidationError("--http-allow-remote and --http-api-key-file apply to --http, which is not given")
    }
    if let maxMemory, Self.byteCount(maxMemory) == nil {
      throw ValidationError("--max-memory '\(maxMemory)' is not a size: give bytes, or a number with K, M, G or T (e.g. 512M, 4G)")
    }
  }

  func run() async throws {
    let level = Logger.Level(rawValue: logLevel)!
    let json = logFormat == "json"
    LoggingSystem.bootstrap { label in
      if json { return JSONLogHandler(label: label, logLevel: level) }
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "zood")
    // Metrics for /metrics and GetMetrics; a worker's requests are counted by its parent.
    let metrics = workerOf == nil ? PrometheusCollectorRegistry() : nil
    if let metrics { MetricsSystem.bootstrap(ServingMetrics.factory(metrics)) }
    if let checkPlugin {
      let cwd = FileManager.default.currentDirectoryPath
      let path = checkPlugin.hasPrefix("/") ? checkPlugin : (cwd as NSString).appendingPathComponent(checkPlugin)
      let status = PluginLoader(logger: logger).load(path: path).status
      print(try status.jsonString())
      throw ExitCode(status.state == .ready ? 0 : 1)
    }
    // Always set, so every plugin library reads the same count (see BLAS.threads).
    BLAS.threads = blasThreads ?? BLAS.threads
    let cwd = FileManager.default.currentDirectoryPath
    func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : (cwd as NSString).appendingPathComponent(p) }
    let socketPath = absolute(socket ?? UnixSocket.defaultPath)
    let config = DaemonConfiguration(
      socketPath: socketPath,
      modelFolders: modelFolders.map(absolute), pluginFolders: pluginFolders.map(absolute),
      limits: ServingLimits(
        parallel: parallel, maxQueue: maxQueue, keepAlive: .seconds(keepAlive), stallTimeout: .seconds(stallTimeout),
        maxMemory: maxMemory.flatMap(Self.byteCount)),
      // A full queue fits on one connection, with room for listings and health checks.
      connections: ConnectionLimits(
        idleTimeout: .seconds(idleTimeout), streamsPerConnection: max(256, parallel + maxQueue + 64)),
      isolation: isolation(socketPath: socketPath, absolute: absolute), parentProcess: workerOf,
      http: try http.map { text in
        var address = HTTPAddress(text)!
        if case .unix(let path) = address { address = .unix(absolute(path)) }
        return HTTPSettings(address: address, apiKey: try httpApiKeyFile.map(Self.readKey))
      }, metrics: metrics)
    do {
      try await Daemon.run(config, logger: logger)
    } catch let e as StartupError {
      logger.critical("\(e.description)")
      throw ExitCode(1)
    }
  }

  /// The API key in `path`: its text without surrounding whitespace, never empty.
  static func readKey(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw ValidationError("cannot read --http-api-key-file \(path): check the path and that zood may read it")
    }
    let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !key.isEmpty else { throw ValidationError("--http-api-key-file \(path) is empty: write the key into it") }
    return key
  }

  /// "512M" → 536870912: a size in bytes, or with a K, M, G or T suffix (powers of 1024,
  /// an optional trailing B or iB); nil when it is not one, or zero.
  static func byteCount(_ text: String) -> UInt64? {
    var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
    for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
      digits.removeLast(suffix.count)
      break
    }
    let scales: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
    var scale = 1.0
    if let last = digits.last, let s = scales[last] {
      scale = s
      digits.removeLast()
    }
    guard let value = Double(digits), value > 0, value * scale < 0x1p63 else { return nil }
    return UInt64(value * scale)
  }

  /// What a worker is started with: zood itself, serving the same folders with the same
  /// limits on a private socket; its queue is zood's (a request reaches the worker only
  /// with a slot), and zood decides when it stops (keep-alive 0).
  private func isolation(socketPath: String, absolute: (String) -> String) -> IsolationPolicy? {
    guard isolate || !isolatedPlugins.isEmpty else { return nil }
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var arguments = modelFolders.flatMap { ["--models", absolute($0)] } + pluginFolders.flatMap { ["--plugins", absolute($0)] }
    arguments += [
      "--parallel", "\(parallel)", "--max-queue", "\(parallel)", "--keep-alive", "0",
      "--stall-timeout", "\(stallTimeout)", "--idle-timeout", "\(idleTimeout)", "--log-level", logLevel,
      "--log-format", logFormat,
      "--worker-of", "\(getpid())",
    ]
    if let blasThreads { arguments += ["--blas-threads", "\(blasThreads)"] }
    return IsolationPolicy(
      plugins: isolate ? nil : Set(isolatedPlugins), hangTimeout: .seconds(hangTimeout), executable: executable,
      arguments: arguments,
      socketFolder: ((socketPath as NSString).deletingLastPathComponent as NSString)
        .appendingPathComponent("zood-workers.\(getpid())"))
  }
}
