import Foundation
import Logging
import Synchronization
import ZooABI
import ZooCore
import ZooProto

/// Limits applied to every model (zood's flags).
public struct ServingLimits: Sendable {
  /// Requests one model runs at once.
  public var parallel: Int
  /// Requests that may wait for a slot per model; more are refused.
  public var maxQueue: Int
  /// Idle time after which a model unloads itself; zero = never.
  public var keepAlive: Duration
  /// How long a generation waits for a client that reads nothing before it is stopped
  /// and its slot freed.
  public var stallTimeout: Duration
  /// Bytes of weights the loaded models may hold together (zood --max-memory); nil = no
  /// budget. Loading past it unloads idle models, least recently used first.
  public var maxMemory: UInt64?

  public init(
    parallel: Int = 1, maxQueue: Int = 16, keepAlive: Duration = .seconds(300), stallTimeout: Duration = .seconds(30),
    maxMemory: UInt64? = nil
  ) {
    self.parallel = parallel
    self.maxQueue = maxQueue
    self.keepAlive = keepAlive
    self.stallTimeout = stallTimeout
    self.maxMemory = maxMemory
  }
}

/// The daemon's state: plugins, the model repository and the models in memory. The
/// gRPC service is a thin translation of this type's calls.
public final class Runtime: Sendable {
  public let plugins: [PluginRecord]
  public let repository: ModelRepository
  public let limits: ServingLimits
  let logger: Logger
  /// model_type → the READY plugin that builds it (first plugin wins).
  private let builders: [String: LoadedPlugin]
  /// decoder name → the READY plugin that provides it.
  let decoders: [String: (plugin: LoadedPlugin, kind: Zoo_V1_DecoderKind)]
  /// middleware name → the READY plugin that provides it.
  let middleware: [String: (plugin: LoadedPlugin, kind: Zoo_V1_MiddlewareKind)]
  private let loaded = Mutex<[String: Task<LoadedModel, any Error>]>([:])
  /// model name → the progress of its load, while it loads.
  private let loading = Mutex<[String: LoadProgress]>([:])
  /// Which plugins run in worker processes; nil = none (zood without --isolate).
  let isolation: IsolationPolicy?
  /// model name → its worker, for models of isolated plugins.
  private let workers = Mutex<[String: ModelWorker]>([:])
  /// plugin name → worker crashes and the last one's sentence (for `zoo plugins`).
  private let crashes = Mutex<[String: (count: UInt32, last: String)]>([:])

  public init(
    plugins: [PluginRecord], repository: ModelRepository, limits: ServingLimits, isolation: IsolationPolicy? = nil,
    logger: Logger
  ) {
    self.plugins = plugins
    self.repository = repository
    self.limits = limits
    self.isolation = isolation
    self.logger = logger
    var builders: [String: LoadedPlugin] = [:]
    var decoders: [String: (LoadedPlugin, Zoo_V1_DecoderKind)] = [:]
    var middleware: [String: (LoadedPlugin, Zoo_V1_MiddlewareKind)] = [:]
    for plugin in plugins.compactMap(\.plugin) {
      for t in plugin.manifest.modelTypes {
        if let other = builders[t.modelType] {
          logger.warning("model type '\(t.modelType)' is provided by both \(other.name) and \(plugin.name); using \(other.name)")
        } else {
          builders[t.modelType] = plugin
        }
      }
      for d in plugin.manifest.decoders where decoders[d.name] == nil { decoders[d.name] = (plugin, d) }
      for m in plugin.manifest.middleware where middleware[m.name] == nil { middleware[m.name] = (plugin, m) }
    }
    self.builders = builders
    self.decoders = decoders
    self.middleware = middleware
  }

  // MARK: Listing

  public func pluginStatuses() -> [Zoo_V1_PluginStatus] {
    let crashes = self.crashes.withLock { $0 }
    return plugins.map { record in
      var status = record.status
      guard let name = record.plugin?.name, let isolation, isolation.isolates(name) else { return status }
      status.isolated = true
      status.workerRestarts = crashes[name]?.count ?? 0
      status.lastCrash = crashes[name]?.last ?? ""
      return status
    }
  }

  /// Why a folder cannot be served now, or nil.
  func unavailableReason(_ folder: ModelFolder) -> String? {
    if let problem = folder.problem { return problem }
    if builders[folder.modelType] != nil { return nil }
    if let failed = plugins.first(where: { $0.plugin == nil && $0.manifest?.modelTypes.contains { $0.modelType == folder.modelType } == true }) {
      return "plugin \(failed.path) provides model type '\(folder.modelType)' but FAILED: \(failed.error ?? "")"
    }
    return "no loaded plugin builds model type '\(folder.modelType)'; see `zoo plugins`"
  }

  func summary(_ folder: ModelFolder) -> Zoo_V1_ModelSummary {
    let reason = unavailableReason(folder)
    let isLoaded = loaded.withLock { $0[folder.name] != nil } || workers.withLock { $0[folder.name] != nil }
    return .with {
      $0.name = folder.name
      $0.path = folder.path
      $0.modelType = folder.modelType
      $0.plugin = builders[folder.modelType]?.name ?? ""
      $0.available = reason == nil
      $0.unavailableReason = reason ?? ""
      $0.description_p = folder.settings.description ?? ""
      $0.sizeBytes = folder.sizeBytes
      $0.loaded = isLoaded
      if let t = builders[folder.modelType]?.manifest.modelTypes.first(where: { $0.modelType == folder.modelType }) {
        $0.defaultDecoder = defaultDecoder(for: folder, ModelAbilities(declared: t.capabilities, folder: folder))
      } else {
        $0.defaultDecoder = folder.settings.defaultDecoder ?? "ar"
      }
    }
  }

  /// The decoder a request that names none gets: zoo.json's default_decoder, else `ar`
  /// when it fits the model, else the first decoder (by name) that does (e.g. `ilm` for an
  /// insertion LM), else `ar` (whose refusal then says why).
  func defaultDecoder(for folder: ModelFolder, _ abilities: ModelAbilities) -> String {
    if let named = folder.settings.defaultDecoder { return named }
    let fitting = decoders.keys.sorted().filter { abilities.missing(for: decoders[$0]!.kind) == nil }
    return fitting.contains("ar") ? "ar" : fitting.first ?? "ar"
  }

  public func listModels() -> [Zoo_V1_ModelSummary] { repository.scan().map(summary) }

  public func showModel(_ name: String) throws -> Zoo_V1_ShowModelResponse {
    let folder = try findFolder(name)
    return .with {
      $0.summary = summary(folder)
      $0.configJson = folder.configJSON
      $0.zooJson = folder.zooJSON
      if let t = builders[folder.modelType]?.manifest.modelTypes.first(where: { $0.modelType == folder.modelType }) {
        $0.modelType = t
        let abilities = ModelAbilities(declared: t.capabilities, folder: folder)
        $0.decoders = decoders.keys.sorted().filter { abilities.missing(for: decoders[$0]!.kind) == nil }
      }
      $0.tokenizer = folder.tokenizerKind
      $0.parameters = folder.parameters
      $0.license = folder.settings.license ?? ""
      if case .success(let template)? = folder.chatTemplate { $0.chatTemplate = template.source }
    }
  }

  func findFolder(_ name: String) throws -> ModelFolder {
    try Self.checkName(name)
    if let folder = repository.find(name) { return folder }
    if let problem = repository.scanProblem {
      throw ZooError.unavailable("model '\(name)' was not found, but zood could not read all its models folders: \(problem)")
    }
    let known = repository.scan().map(\.name)
    let listed = known.prefix(20).joined(separator: ", ") + (known.count > 20 ? ", and \(known.count - 20) more" : "")
    throw ZooError.notFound(
      "model '\(name)' not found; known models: \(known.isEmpty ? "none (check zood --models)" : listed)")
  }

  /// A model name is a folder name: refused before anything looks for it when it cannot be
  /// one, so a huge or binary name is never echoed back whole, and a name never reaches
  /// the filesystem as a path (`../x`, `/etc/passwd`: no model has that name).
  static func checkName(_ name: String) throws {
    guard !name.isEmpty else { throw ZooError.invalidArgument("no model named: set the request's model field") }
    guard name.utf8.count <= 255 else {
      throw ZooError.invalidArgument(
        "'\(name.clipped())' cannot be a model name: a model is named by its folder, at most 255 bytes")
    }
    guard !name.contains("/"), !name.contains("\0"), name != ".", name != ".." else {
      throw ZooError.notFound(
        "model '\(name.clipped())' not found: a model is named by its folder in a models folder, never by a path; `zoo list` shows the names")
    }
  }

  // MARK: Loading

  /// The loaded model, loading it first if needed (concurrent callers share one load). A
  /// loaded model is found without touching the disk. `onProgress` hears how a load
  /// this call starts or joins goes.
  public func model(
    _ name: String, keepAlive: Duration? = nil,
    onProgress: (@Sendable (Zoo_V1_LoadModelProgress) -> Void)? = nil
  ) async throws -> LoadedModel {
    if let task = loaded.withLock({ $0[name] }) {
      if let onProgress { loading.withLock { $0[name] }?.watch(onProgress) }
      return try await value(of: task, name, keepAlive: keepAlive)
    }
    let (folder, plugin) = try servable(name)
    try await makeRoom(for: folder)
    let limits = self.limits
    let logger = self.logger
    let task = loaded.withLock { map in
      if let t = map[name] {
        if let onProgress { loading.withLock { $0[name] }?.watch(onProgress) }
        return t
      }
      let progress = LoadProgress()
      if let onProgress { progress.watch(onProgress) }
      loading.withLock { $0[name] = progress }
      let t = Task<LoadedModel, any Error> {
        defer { self.loading.withLock { $0[name] = nil } }
        return try await withCheckedThrowingContinuation { c in
          // Loading reads files and may convert weights: keep it off the async pool.
          DispatchQueue.global().async {
            let start = ContinuousClock.now
            c.resume(with: Result {
              let m = try LoadProgress.$current.withValue(progress) {
                try LoadedModel(
                  folder: folder, plugin: plugin, parallel: limits.parallel, maxQueue: limits.maxQueue,
                  keepAlive: keepAlive ?? limits.keepAlive, progress: progress)
              }
              logger.info(
                "loaded model \(name) (\(folder.modelType), \(Self.bytes(UInt64(m.weightBytes)))) in \(String(format: "%.3f", (ContinuousClock.now - start).seconds)) s")
              return m
            })
          }
        }
      }
      map[name] = t
      return t
    }
    return try await value(of: task, name, keepAlive: keepAlive)
  }

  /// Keeps the loaded models' weights within `limits.maxMemory` before `folder` loads:
  /// unloads idle models, least recently used first, or refuses with RESOURCE_EXHAUSTED
  /// naming the sizes when the model is larger than the budget or the models in use
  /// leave too little of it. Sizes are the weight files' bytes.
  private func makeRoom(for folder: ModelFolder) async throws {
    guard let budget = limits.maxMemory else { return }
    let need = folder.sizeBytes
    guard need <= budget else {
      throw ZooError.resourceExhausted(
        "model '\(folder.name)' needs \(Self.bytes(need)) of weights, more than zood's whole --max-memory of \(Self.bytes(budget)); raise it to load this model")
    }
    while true {
      var held: UInt64 = 0
      var idle: [(name: String, idle: Duration, unload: () -> Void)] = []
      var busy: [String] = []
      for (name, task) in loaded.withLock({ $0 }) where name != folder.name {
        guard let m = try? await task.value else { continue }
        held += UInt64(m.weightBytes)
        let a = m.scheduler.snapshot
        if a.active + a.queued == 0 {
          idle.append((name, a.idle, { self.loaded.withLock { map in if map[name] == task { map.removeValue(forKey: name) } } }))
        } else {
          busy.append("\(name) (\(Self.bytes(UInt64(m.weightBytes))))")
        }
      }
      for (name, worker) in workers.withLock({ $0 }) where name != folder.name {
        let bytes = repository.find(name)?.sizeBytes ?? 0
        held += bytes
        let a = worker.scheduler.snapshot
        if a.active + a.queued == 0 {
          idle.append((name, a.idle, {
            if self.workers.withLock({ map in map[name] === worker ? map.removeValue(forKey: name) : nil }) != nil {
              worker.stop(grace: .seconds(10))
            }
          }))
        } else {
          busy.append("\(name) (\(Self.bytes(bytes)))")
        }
      }
      if held + need <= budget { return }
      guard let lru = idle.max(by: { $0.idle < $1.idle }) else {
        throw ZooError.resourceExhausted(
          "model '\(folder.name)' needs \(Self.bytes(need)) of weights, but \(Self.bytes(held)) of zood's --max-memory of \(Self.bytes(budget)) is held by models in use: \(busy.sorted().joined(separator: ", ")); retry when they finish, or raise --max-memory")
      }
      lru.unload()
      logger.info("unloaded model \(lru.name) (idle \(lru.idle)) to make room for \(folder.name) within --max-memory")
    }
  }

  /// "7.0 MB", "1.2 GB": sizes in messages.
  static func bytes(_ n: UInt64) -> String {
    if n < 1_000_000 { return "\(n) bytes" }
    return n < 1_000_000_000 ? String(format: "%.1f MB", Double(n) / 1e6) : String(format: "%.1f GB", Double(n) / 1e9)
  }

  /// The folder named `name` and the plugin that builds it, or why it cannot be served.
  private func servable(_ name: String) throws -> (ModelFolder, LoadedPlugin) {
    let folder = try findFolder(name)
    if let reason = unavailableReason(folder) {
      throw folder.problem != nil
        ? ZooError.failedPrecondition("model '\(name)' cannot be loaded: \(reason)")
        : ZooError.unavailable("model '\(name)' is unavailable: \(reason)")
    }
    return (folder, builders[folder.modelType]!)
  }

  /// The worker process serving `name` when its plugin is isolated (zood --isolate),
  /// created on first use; nil when the model runs inside zood.
  func worker(for name: String) async throws -> ModelWorker? {
    guard let isolation else { return nil }
    if let worker = workers.withLock({ $0[name] }) { return worker }
    let (folder, plugin) = try servable(name)
    guard isolation.isolates(plugin.name) else { return nil }
    try await makeRoom(for: folder)
    return workers.withLock { map in
      if let worker = map[name] { return worker }
      let worker = ModelWorker(
        modelName: folder.name, pluginName: plugin.name,
        scheduler: Scheduler(
          modelName: folder.name, parallel: limits.parallel, maxQueue: limits.maxQueue, keepAlive: limits.keepAlive),
        policy: isolation, stallTimeout: limits.stallTimeout, logger: logger
      ) { [weak self] sentence in
        self?.crashes.withLock { c in c[plugin.name] = ((c[plugin.name]?.count ?? 0) + 1, sentence) }
      }
      map[name] = worker
      return worker
    }
  }

  /// Stops every worker (shutdown): each ends its streams and exits within `grace`.
  func stopWorkers(grace: Duration) {
    let all = workers.withLock { map in
      defer { map.removeAll() }
      return Array(map.values)
    }
    all.forEach { $0.stop(grace: grace) }
  }

  private func value(of task: Task<LoadedModel, any Error>, _ name: String, keepAlive: Duration?) async throws
    -> LoadedModel
  {
    do {
      let model = try await task.value
      if let keepAlive { model.scheduler.setKeepAlive(keepAlive) }
      return model
    } catch {
      // A failed load is not cached: the next request tries again.
      loaded.withLock { map in if map[name] == task { map.removeValue(forKey: name) } }
      if let e = error as? ZooError { throw e }
      throw ZooError.internalError("loading model '\(name)' failed: \(error)")
    }
  }

  /// Forgets a loaded model; it is freed once its running requests finish.
  public func unload(_ name: String) throws {
    try Self.checkName(name)
    let removed = loaded.withLock { $0.removeValue(forKey: name) }
    let worker = workers.withLock { $0.removeValue(forKey: name) }
    worker?.stop(grace: .seconds(10))
    guard removed != nil || worker != nil else { throw ZooError.notFound("model '\(name)' is not loaded") }
    logger.info("unloaded model \(name)")
  }

  public func loadedModels() async -> [Zoo_V1_LoadedModel] {
    let tasks = loaded.withLock { $0 }
    var out: [Zoo_V1_LoadedModel] = []
    for name in tasks.keys.sorted() {
      guard let m = try? await tasks[name]!.value else { continue }
      out.append(Self.describe(m))
    }
    for worker in workers.withLock({ $0.values.sorted { $0.modelName < $1.modelName } }) {
      if let m = await worker.describe() { out.append(m) }
    }
    return out
  }

  static func describe(_ m: LoadedModel) -> Zoo_V1_LoadedModel {
    let a = m.scheduler.snapshot
    let info = m.handle.info
    return .with {
      $0.name = m.folder.name
      $0.modelType = m.folder.modelType
      $0.plugin = m.plugin.name
      $0.weightBytes = UInt64(m.weightBytes)
      $0.residentBytes = UInt64(m.weightBytes + info.heldBytes)
      $0.stateBytes = UInt64(m.stateBytes(a))
      $0.activeRequests = Int32(a.active)
      $0.queuedRequests = Int32(a.queued)
      $0.idleSeconds = a.idle.seconds
      $0.expiresInSeconds = a.keepAlive > .zero ? max(0, (a.keepAlive - a.idle).seconds) : 0
      $0.facts = .with {
        let t = info.specialTokens
        $0.maskTokenID = t.mask ?? -1
        $0.bosTokenID = t.bos ?? -1
        $0.clsTokenID = t.cls ?? -1
        $0.padTokenID = t.pad ?? -1
        $0.eosTokenIds = m.folder.eosTokens
        $0.heads = info.heads.map(\.name)
        $0.maskKinds = MaskKind.allCases.filter(info.maskKinds.contains).map(\.name)
      }
    }
  }

  /// Unloads models idle past their keep-alive, and models whose files changed on disk
  /// (a re-download, an edit): those keep serving their running requests from memory, and
  /// the next request loads the new files. zood calls this every second.
  public func unloadExpiredAndChanged() async {
    let tasks = loaded.withLock { $0 }
    for (name, task) in tasks {
      guard let m = try? await task.value else { continue }
      let reason: String
      if m.scheduler.expired {
        reason = "after its keep-alive of \(m.scheduler.snapshot.keepAlive)"
      } else if !m.folder.isUnchangedOnDisk {
        reason = "because its files changed on disk; the next request loads them again"
      } else {
        continue
      }
      loaded.withLock { map in
        if map[name] == task { map.removeValue(forKey: name) }
      }
      logger.info("unloaded model \(name) \(reason)")
    }
    // A worker idle past its keep-alive stops; one whose files changed reloads them itself.
    let idle = workers.withLock { map in
      let idle = map.filter { $0.value.scheduler.expired }
      idle.keys.forEach { map.removeValue(forKey: $0) }
      return idle
    }
    for (name, worker) in idle {
      worker.stop(grace: .seconds(10))
      logger.info("stopped the worker of model \(name) after its keep-alive")
    }
  }
}
