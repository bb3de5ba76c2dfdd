import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import Synchronization
import ZooProto
import ZooRPC
import ZooSocket

#if canImport(Glibc)
import Glibc
#endif

/// Which plugins run in worker processes (zood --isolate), and how workers are started.
///
/// The boundary is the request, as Ollama's per-model runner: a worker is zood itself,
/// started with the same models and plugins folders on a private socket, serving one
/// model; zood forwards Generate and Embed to it and streams the answers back. Tokens
/// cross the boundary, never tensors, so nothing needs shared memory: the worker maps the
/// model's files itself. A worker in C on libuv (the design card's suggestion) would have
/// to reimplement the host services plugins call back into (tokenizers, embeddings,
/// progress, cancellation) that zood already implements in Swift; reusing zood keeps one
/// implementation of the host, and of every check a request goes through.
public struct IsolationPolicy: Sendable {
  /// Plugins (manifest names) whose models run in workers; nil isolates every plugin.
  public var plugins: Set<String>?
  /// A request whose worker sends nothing for this long is hung: its worker is killed,
  /// the request ends UNAVAILABLE, and the worker restarts.
  public var hangTimeout: Duration
  /// zood's executable and the arguments every worker gets (folders, limits, logging);
  /// the socket is added per worker.
  public var executable: String
  public var arguments: [String]
  /// A private folder (0700) for the workers' sockets.
  public var socketFolder: String

  public init(plugins: Set<String>?, hangTimeout: Duration, executable: String, arguments: [String], socketFolder: String) {
    self.plugins = plugins
    self.hangTimeout = hangTimeout
    self.executable = executable
    self.arguments = arguments
    self.socketFolder = socketFolder
  }

  func isolates(_ plugin: String) -> Bool { plugins?.contains(plugin) ?? true }
}

/// One model served by a worker process: its slots and queue (kept here, so that a
/// request waiting for a slot is never mistaken for a hung one), the running process and
/// the client connected to it, and restarts after a crash, with backoff.
final class ModelWorker: Sendable {
  let modelName: String
  let pluginName: String
  let scheduler: Scheduler
  private let policy: IsolationPolicy
  private let stallTimeout: Duration
  private let logger: Logger
  /// Called with a sentence each time the worker dies unasked.
  private let onCrash: @Sendable (String) -> Void

  private struct State {
    var current: Task<WorkerProcess, any Error>?
    var generation = 0
    var consecutiveCrashes = 0
    var stopped = false
  }
  private let state = Mutex(State())
  /// Numbers the workers' sockets.
  private static let launches = Atomic<Int>(0)

  init(
    modelName: String, pluginName: String, scheduler: Scheduler, policy: IsolationPolicy, stallTimeout: Duration,
    logger: Logger, onCrash: @escaping @Sendable (String) -> Void
  ) {
    self.modelName = modelName
    self.pluginName = pluginName
    self.scheduler = scheduler
    self.policy = policy
    self.stallTimeout = stallTimeout
    self.logger = logger
    self.onCrash = onCrash
  }

  /// The running worker, started (or waited for, while it restarts) if needed.
  func process() async throws -> WorkerProcess {
    let task: Task<WorkerProcess, any Error> = try state.withLock { s in
      if s.stopped { throw ZooError.unavailable("model '\(modelName)' was unloaded; retry to load it again") }
      if let t = s.current { return t }
      let t = launchTask(after: .zero, generation: s.generation)
      s.current = t
      return t
    }
    do {
      return try await task.value
    } catch {
      // A failed start is not kept: the next request tries again.
      state.withLock { s in if s.current == task { s.current = nil } }
      throw error
    }
  }

  /// The running worker's pid, if one is up now (for `zoo ps`).
  var runningProcess: WorkerProcess? {
    get async {
      guard let task = state.withLock({ $0.current }) else { return nil }
      return try? await task.value
    }
  }

  private func launchTask(after delay: Duration, generation: Int) -> Task<WorkerProcess, any Error> {
    Task {
      if delay > .zero { try await Task.sleep(for: delay) }
      return try await launch(generation: generation)
    }
  }

  private func launch(generation: Int) async throws -> WorkerProcess {
    let socket = (policy.socketFolder as NSString).appendingPathComponent(
      "w\(Self.launches.add(1, ordering: .relaxed).newValue).sock")
    let worker = try WorkerProcess(
      executable: policy.executable, arguments: policy.arguments + ["--socket", socket], socket: socket
    ) { [weak self] process, reason in
      self?.exited(process, reason: reason, generation: generation)
    }
    do {
      try await worker.waitUntilListening(model: modelName)
    } catch {
      worker.terminate(grace: .seconds(1))  // cancelled (unload) or never listened
      throw error
    }
    logger.info("worker \(worker.pid) serves model \(modelName) (plugin \(pluginName), isolated)")
    return worker
  }

  /// A worker ended. Unless zood stopped it, that is a crash: counted, and the worker
  /// restarts after a backoff that doubles with each crash in a row (0.25 s up to 30 s);
  /// one that ran a minute before crashing starts the count again.
  private func exited(_ process: WorkerProcess, reason: String, generation: Int) {
    guard !process.stopRequested else { return }
    let sentence = "\(reason) while serving model '\(modelName)'"
    let delay: Duration? = state.withLock { s in
      guard !s.stopped, s.generation == generation else { return nil }
      s.consecutiveCrashes = process.uptime > .seconds(60) ? 1 : s.consecutiveCrashes + 1
      let delay = min(Duration.milliseconds(250) * (1 << min(s.consecutiveCrashes - 1, 7)), .seconds(30))
      s.generation += 1
      s.current = launchTask(after: delay, generation: s.generation)
      return delay
    }
    logger.error("worker \(process.pid) \(sentence); restarting it in \(delay ?? .zero)")
    onCrash(sentence)
  }

  /// Stops the worker (unload, shutdown): it ends its streams and exits; killed if it
  /// has not after `grace`.
  func stop(grace: Duration) {
    let task = state.withLock { s in
      s.stopped = true
      return s.current
    }
    guard let task else { return }
    Task {
      guard let worker = try? await task.value else { return }
      worker.terminate(grace: grace)
    }
    task.cancel()  // a restart still waiting out its backoff does not start
  }

  // MARK: Requests

  /// Runs a Generate on the worker, passing every message through. A crash or hang of
  /// the worker ends it UNAVAILABLE with a sentence; the worker's own statuses pass
  /// through as they are.
  func generate(
    _ request: Zoo_V1_GenerateRequest, to writer: RPCWriter<Zoo_V1_GenerateResponse>, timeout: Duration?
  ) async throws {
    let worker = try await process()
    try await watched(worker) { client, watch in
      try await client.generate(request, options: Self.options(timeout)) { response in
        watch.heard()
        for try await message in response.messages {
          watch.writing(true)
          try await writer.write(message)
          watch.writing(false)
        }
      }
    }
  }

  /// Runs a Score on the worker, passing every message through (as `generate`).
  func score(
    _ request: Zoo_V1_ScoreRequest, to writer: RPCWriter<Zoo_V1_ScoreResponse>, timeout: Duration?
  ) async throws {
    let worker = try await process()
    try await watched(worker) { client, watch in
      try await client.score(request, options: Self.options(timeout)) { response in
        watch.heard()
        for try await message in response.messages {
          watch.writing(true)
          try await writer.write(message)
          watch.writing(false)
        }
      }
    }
  }

  /// Runs an Embed on the worker (as `generate`).
  func embed(_ request: Zoo_V1_EmbedRequest, timeout: Duration?) async throws -> Zoo_V1_EmbedResponse {
    let worker = try await process()
    return try await watched(worker) { client, _ in try await client.embed(request, options: Self.options(timeout)) }
  }

  /// Loads the model in the worker now, passing on its progress.
  func load(onProgress: LoadProgress.Watcher?) async throws -> Zoo_V1_LoadedModel {
    let worker = try await process()
    return try await watched(worker) { client, watch in
      let request = Zoo_V1_LoadModelRequest.with { $0.model = self.modelName; $0.keepAliveSeconds = 0 }
      return try await client.loadModelWithProgress(request) { response in
        for try await update in response.messages {
          watch.heard()
          if update.hasModel {
            var m = update.model
            m.workerPid = worker.pid
            return m
          }
          onProgress?(update)
        }
        throw ZooError.internalError("the worker of '\(self.modelName)' ended its load without the model")
      }
    }
  }

  /// What the worker says about the model, if it is up and has it loaded.
  func describe() async -> Zoo_V1_LoadedModel? {
    guard let worker = await runningProcess,
      var m = try? await worker.client.listLoaded(.init(), options: Self.options(.seconds(5))).models
        .first(where: { $0.name == modelName })
    else { return nil }
    let a = scheduler.snapshot
    m.workerPid = worker.pid
    m.activeRequests = Int32(a.active)
    m.queuedRequests = Int32(a.queued)
    m.idleSeconds = a.idle.seconds
    m.expiresInSeconds = a.keepAlive > .zero ? max(0, (a.keepAlive - a.idle).seconds) : 0
    return m
  }

  private static func options(_ timeout: Duration?) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = timeout
    options.maxResponseMessageBytes = 256 << 20
    return options
  }

  /// Runs `call` against `worker` while a watchdog checks that the worker answers: one
  /// silent for `hangTimeout` (while zood is not itself waiting on the client) is
  /// killed. A client that reads nothing for the stall timeout ends its request
  /// RESOURCE_EXHAUSTED, as in process. A call that fails because its worker died is
  /// UNAVAILABLE, saying how.
  private func watched<R: Sendable>(
    _ worker: WorkerProcess,
    _ call: @Sendable @escaping (Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix>, Watch) async throws -> R
  ) async throws -> R {
    let watch = Watch()
    let hangTimeout = policy.hangTimeout
    let stallTimeout = self.stallTimeout
    let modelName = self.modelName
    let pluginName = self.pluginName
    do {
      return try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await call(worker.client, watch) }
        group.addTask {
          while true {
            try await Task.sleep(for: min(.seconds(1), hangTimeout / 4))
            if watch.stalledFor > stallTimeout {
              throw ZooError.resourceExhausted(
                "the client read nothing for \(Int(stallTimeout.seconds.rounded())) s, so zood stopped the generation and freed the model for others (zood --stall-timeout)"
              ).rpcError
            }
            // A dead worker's calls end with their connection; should one outlive it
            // (a descriptor held elsewhere), it ends here.
            if let reason = await worker.exitReason(within: .zero) {
              throw RPCError(code: .unavailable, message: Self.crashed(modelName, pluginName, reason))
            }
            if watch.silentFor > hangTimeout {
              watch.hung.store(true, ordering: .relaxed)
              worker.kill(reason: "was killed after sending nothing for \(hangTimeout) (a hang in plugin code)")
            }
          }
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
          if let result { return result }
        }
        throw CancellationError()
      }
    } catch let error as RPCError where error.code == .unavailable || error.code == .unknown || error.code == .internalError || watch.hung.load(ordering: .relaxed) {
      guard let reason = await worker.exitReason(within: .seconds(2)) else { throw error }
      throw RPCError(code: .unavailable, message: Self.crashed(modelName, pluginName, reason))
    }
  }

  private static func crashed(_ model: String, _ plugin: String, _ reason: String) -> String {
    "the worker process serving '\(model)' (plugin '\(plugin)') \(reason) during this request; zood restarts it: retry"
  }
}

/// When a call last heard from its worker, and since when zood has been waiting on its
/// own client instead (a slow reader is the stall timeout's business, not a hang).
final class Watch: Sendable {
  private let lastHeard = Atomic<Int64>(Watch.now)
  /// When the current write to the client began; 0 when none is waiting.
  private let writingSince = Atomic<Int64>(0)
  /// Set when the watchdog killed the worker for it.
  let hung = Atomic<Bool>(false)

  func heard() { lastHeard.store(Self.now, ordering: .relaxed) }
  func writing(_ on: Bool) {
    let now = Self.now
    writingSince.store(on ? now : 0, ordering: .relaxed)
    lastHeard.store(now, ordering: .relaxed)
  }
  var silentFor: Duration {
    writingSince.load(ordering: .relaxed) != 0 ? .zero : .nanoseconds(Self.now - lastHeard.load(ordering: .relaxed))
  }
  var stalledFor: Duration {
    let since = writingSince.load(ordering: .relaxed)
    return since == 0 ? .zero : .nanoseconds(Self.now - since)
  }
  private static var now: Int64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
  }
}

/// A running worker: the process, and a gRPC client on its socket once it listens.
///
/// Started with posix_spawn and reaped by a thread blocked in waitpid, not with
/// Foundation's Process: Process learns that a child exited from a socket the child
/// inherits, which every later child inherits too, so a crashed worker would not be
/// noticed while another worker started after it runs.
final class WorkerProcess: Sendable {
  let pid: Int32
  private let grpc: Mutex<GRPCClient<HTTP2ClientTransport.Posix>?> = Mutex(nil)
  private let socket: String
  private let started = ContinuousClock.now
  private let _stopRequested = Atomic<Bool>(false)
  /// How it ended, once it has; and who waits for that.
  private let ending = Mutex<(reason: String?, waiters: [CheckedContinuation<Void, Never>])>((nil, []))
  private let killReason = Mutex<String?>(nil)

  init(
    executable: String, arguments: [String], socket: String,
    onExit: @escaping @Sendable (WorkerProcess, String) -> Void
  ) throws {
    self.socket = socket
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // stdin from /dev/null; stdout and stderr are zood's (its log); nothing else: every
    // other descriptor open now is closed in the child (glibc's closefrom action is not
    // visible to Swift).
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap({ Int32($0) }) ?? []
    where fd > 2 {
      posix_spawn_file_actions_addclose(&actions, fd)
    }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var spawned: pid_t = 0
    // No Swift backtrace on a crash: the backtracer is a child process that inherits the
    // worker's sockets and takes seconds, during which the crash looks like a hang. The
    // signal is reported; run the model in zood (without --isolate) for a backtrace.
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    let rc = posix_spawn(&spawned, executable, &actions, nil, argv, envp)
    guard rc == 0 else {
      throw ZooError.unavailable("cannot start a worker process (\(executable)): \(String(cString: strerror(rc)))")
    }
    pid = spawned
    let me = self
    let pid = spawned
    Thread.detachNewThread {
      var status: Int32 = 0
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
      let reason = me.killReason.withLock { $0 } ?? Self.describe(status)
      let waiters = me.ending.withLock { e in
        e.reason = reason
        defer { e.waiters = [] }
        return e.waiters
      }
      waiters.forEach { $0.resume() }
      me.grpc.withLock { $0 }?.beginGracefulShutdown()
      unlink(me.socket)
      onExit(me, reason)
    }
  }

  /// The client on the worker's socket; a worker is handed out only once it listens
  /// (`waitUntilListening`), so there is one.
  var client: Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix> { Zoo_V1_Zoo.Client(wrapping: grpc.withLock { $0! }) }

  var uptime: Duration { .now - started }
  var stopRequested: Bool { _stopRequested.load(ordering: .relaxed) }

  /// Waits until the worker accepts connections (it loads every plugin first), then
  /// connects to it. (A client made before the socket exists would start in its
  /// reconnect backoff.)
  func waitUntilListening(model: String) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while !UnixSocket.isAccepting(socket) {
      if let reason = await exitReason(within: .zero) {
        throw ZooError.unavailable("the worker process for model '\(model)' \(reason) while starting; see zood's log")
      }
      guard ContinuousClock.now < deadline else {
        kill(reason: "was killed after not listening within 60 s")
        throw ZooError.unavailable("the worker process for model '\(model)' did not start listening within 60 s")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
    let client = GRPCClient(
      transport: try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext))
    grpc.withLock { $0 = client }
    Task { try? await client.runConnections() }
  }

  /// How the process ended, if it does within `wait`.
  func exitReason(within wait: Duration) async -> String? {
    if let r = ending.withLock({ $0.reason }) { return r }
    guard wait > .zero else { return nil }
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        await withCheckedContinuation { c in
          let done = self.ending.withLock { e -> Bool in
            if e.reason != nil { return true }
            e.waiters.append(c)
            return false
          }
          if done { c.resume() }
        }
      }
      group.addTask { try? await Task.sleep(for: wait) }
      await group.next()
      // The other child finishes on its own: the sleep ends, or the process does.
      group.cancelAll()
    }
    return ending.withLock { $0.reason }
  }

  /// SIGKILL, remembering why (the crash reason the requests and `zoo plugins` show).
  func kill(reason: String) {
    killReason.withLock { if $0 == nil { $0 = reason } }
    Glibc.kill(pid, SIGKILL)
  }

  /// SIGTERM: the worker ends its streams and exits; SIGKILL after `grace`.
  func terminate(grace: Duration) {
    _stopRequested.store(true, ordering: .relaxed)
    Glibc.kill(pid, SIGTERM)
    DispatchQueue.global().asyncAfter(deadline: .now() + grace.seconds) {
      // Not yet reaped, so the pid is still this worker's.
      if self.ending.withLock({ $0.reason == nil }) { Glibc.kill(self.pid, SIGKILL) }
    }
  }

  /// "was killed by SIGSEGV", "exited with status 3", from a waitpid status (glibc's
  /// encoding, which <sys/wait.h>'s macros decode: the signal in the low 7 bits, else the
  /// exit status in the next 8).
  private static func describe(_ status: Int32) -> String {
    let signal = status & 0x7f
    guard signal != 0 else { return "exited with status \((status >> 8) & 0xff)" }
    let names: [Int32: String] = [
      SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
      SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP",
    ]
    return "was killed by \(names[signal] ?? "signal \(signal)")"
  }
}
