import Foundation
import GRPCCore
import Logging
import Prometheus
import SwiftProtobuf
import ZooProto
import ZooRPC

/// zoo.v1.Zoo over gRPC: translates requests to `Runtime` calls and `ZooError`s to
/// status codes. The request path reads top to bottom in `generate`.
public struct ZooService: Zoo_V1_Zoo.SimpleServiceProtocol {
  let runtime: Runtime
  let shutdown: ShutdownSignal
  let logger: Logger
  /// The registry zood's metrics go to; nil in a worker (its parent counts its requests).
  let metrics: PrometheusCollectorRegistry?

  public init(runtime: Runtime, shutdown: ShutdownSignal, logger: Logger, metrics: PrometheusCollectorRegistry? = nil) {
    self.runtime = runtime
    self.shutdown = shutdown
    self.logger = logger
    self.metrics = metrics
  }

  public func getMetrics(request: Zoo_V1_GetMetricsRequest, context: ServerContext) async throws -> Zoo_V1_GetMetricsResponse {
    let text = await ServingMetrics.exposition(metrics, runtime: runtime)
    return .with { $0.text = text }
  }

  public func listPlugins(request: Zoo_V1_ListPluginsRequest, context: ServerContext) async throws
    -> Zoo_V1_ListPluginsResponse
  {
    .with { $0.plugins = runtime.pluginStatuses() }
  }

  public func listModels(request: Zoo_V1_ListModelsRequest, context: ServerContext) async throws
    -> Zoo_V1_ListModelsResponse
  {
    .with { $0.models = runtime.listModels() }
  }

  public func showModel(request: Zoo_V1_ShowModelRequest, context: ServerContext) async throws
    -> Zoo_V1_ShowModelResponse
  {
    try mapped { try runtime.showModel(request.model) }
  }

  /// Generate with the request metadata in reach: the client's `grpc-timeout` tells a
  /// deadline from a cancel, so a request that runs out of time ends DEADLINE_EXCEEDED
  /// (not OK with finish CANCELLED), whichever side's timer fires first.
  public func generate(
    request: ServerRequest<Zoo_V1_GenerateRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Zoo_V1_GenerateResponse> {
    let (received, deadline) = Self.arrival(request.metadata)
    return StreamingServerResponse { writer in
      try await generate(request: request.message, response: writer, received: received, deadline: deadline)
      return [:]
    }
  }

  /// Required by `SimpleServiceProtocol`; gRPC calls the overload above.
  public func generate(
    request: Zoo_V1_GenerateRequest, response: RPCWriter<Zoo_V1_GenerateResponse>, context: ServerContext
  ) async throws {
    try await generate(request: request, response: response, received: .now, deadline: nil)
  }

  /// Generate for gRPC and HTTP alike, counted in the metrics by its outcome.
  func generate(
    request: Zoo_V1_GenerateRequest, response: RPCWriter<Zoo_V1_GenerateResponse>,
    received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?
  ) async throws {
    try await counted("Generate", since: received) { labels in
      try await generate(request: request, response: response, received: received, deadline: deadline, labels: labels)
    }
  }

  /// Runs one request, counted in the metrics by its outcome.
  private func counted<T>(
    _ rpc: String, since received: ContinuousClock.Instant,
    _ body: (ServingMetrics.RequestLabels) async throws -> T
  ) async throws -> T {
    let labels = ServingMetrics.RequestLabels(rpc: rpc)
    do {
      let result = try await body(labels)
      ServingMetrics.finished(labels, error: nil, since: received)
      return result
    } catch {
      ServingMetrics.finished(labels, error: error, since: received)
      throw error
    }
  }

  private func generate(
    request: Zoo_V1_GenerateRequest, response: RPCWriter<Zoo_V1_GenerateResponse>,
    received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?, labels: ServingMetrics.RequestLabels
  ) async throws {
    let requestContext = RequestContext()
    // 1. Validate what needs no model (sizes, options), so a bad request never loads one.
    let options = try mapped {
      try RequestValidation.checkSize(request)
      return try RequestValidation.validate(request.options)
    }
    // 2. A model of an isolated plugin: a slot here, then its worker process runs the
    // rest of this path (zood --isolate).
    if let worker = try await mappedAsync({ try await runtime.worker(for: request.model) }) {
      labels.model = request.model
      labels.decoder = request.options.decoder
      try await isolated(worker, received: received, deadline: deadline) { timeout in
        try await worker.generate(
          request,
          to: RPCWriter(wrapping: ServingMetrics.CountingWriter(client: response) {
            if $0.done { ServingMetrics.generated(model: request.model, stats: $0.stats) }
          }), timeout: timeout)
      }
      return
    }
    // Otherwise find (and if needed load) the model.
    let model = try await mappedAsync { try await runtime.model(request.model) }
    labels.model = model.folder.name
    requestContext.services = RequestServices(model: model, runtime: runtime)
    // gRPC signals cancellation (client cancel, disconnect, deadline) through this
    // handler, not by cancelling the task; shutdown cancels every request the same way.
    try await withRPCCancellationHandler {
      let token = shutdown.register(requestContext)
      defer { shutdown.unregister(token) }
      // 3. Middleware the request names may rewrite it (checked again if it does).
      var validated = request
      validated.options = options
      let rewritten = try await mappedAsync {
        try await runtime.applyMiddleware(validated, model: model, context: requestContext)
      }
      // 4. Resolve the decoder (once), check it fits the model, tokenize the prompt.
      let (prepared, promptScore) = try mapped {
        let decoder = try runtime.resolveDecoder(rewritten.options, for: model)
        labels.decoder = decoder.name
        let prepared = try runtime.prepare(rewritten, options: rewritten.options, decoder: decoder, model: model)
        return (prepared, try scoreOfPrompt(rewritten, prepared, model: model))
      }
      // 5. Wait for a slot on the model.
      try await mappedAsync { try await acquire(model, for: requestContext, received: received, deadline: deadline) }
      let queueSeconds = (ContinuousClock.now - received).seconds
      // 5b. Score the prompt when asked (prompt_logprobs), in the slot just taken.
      if let promptScore {
        do {
          let scored = try await runtime.score(promptScore, model: model, request: requestContext) { _ in }
          try await response.write(.with { $0.promptLogprobs = scored.tokens })
        } catch {
          model.scheduler.release()
          throw (error as? ZooError)?.rpcError ?? error
        }
      }
      // 6. Run the decoder on its own thread (it frees the slot when it returns) and
      // stream what it commits. Writing is a child task, so that a client that stopped
      // reading can be cut off: a write waiting on HTTP/2 flow control ends only when
      // its task is cancelled.
      let (stalls, stall) = AsyncStream.makeStream(of: Void.self)
      let shutdown = self.shutdown
      let run = GenerationRun.start(
        model: model, prepared: prepared, request: requestContext, queueSeconds: queueSeconds,
        stallTimeout: runtime.limits.stallTimeout, onStall: { stall.finish() },
        endedByDeadline: { deadline != nil && !shutdown.isShuttingDown })
      let failure: ZooError? = await withTaskGroup(of: ZooError?.self) { group in
        group.addTask { await write(run, to: response) }
        group.addTask {
          for await _ in stalls {}
          return run.stall
        }
        let first = await group.next()!
        group.cancelAll()
        // The writer's answer wins; a stall ends the writer too, which then reports it.
        return await group.reduce(first) { $0 ?? $1 }
      }
      // Logged here, not by the writer: a stall cancels the writer before it sees the end.
      if let failure {
        logger.warning("generate \(model.folder.name) failed: \(failure.message)")
        throw failure.rpcError
      }
    } onCancelRPC: {
      requestContext.cancel()
      model.scheduler.cancelWaiter(for: requestContext)
    }
  }

  /// The prompt to score before generating, when the request asks for prompt_logprobs.
  private func scoreOfPrompt(_ request: Zoo_V1_GenerateRequest, _ prepared: PreparedGeneration, model: LoadedModel)
    throws -> PreparedScore?
  {
    guard request.options.hasPromptLogprobs else { return nil }
    guard prepared.gaps == nil else {
      throw ZooError.invalidArgument("prompt_logprobs scores a prompt read left to right; a template with gaps (segments) has none")
    }
    return try runtime.prepareScore(
      text: nil, tokenIDs: prepared.prompt, top: Int(request.options.promptLogprobs), scoreFirst: false, model: model)
  }

  /// Writes a run's events to the client until the run finishes; the error to end the
  /// RPC with, if any. When the client vanishes, or this task is cancelled because the
  /// client stopped reading, the decoder is stopped and the rest drained unwritten.
  private func write(_ run: GenerationRun, to response: RPCWriter<Zoo_V1_GenerateResponse>) async -> ZooError? {
    var failure: ZooError?
    var clientGone = false
    for await event in run.events {
      switch event {
      case .progress(let message):
        defer { run.taken() }
        guard !clientGone else { continue }
        do { try await response.write(message) } catch {
          clientGone = true
          run.request.cancel()
        }
      case .finished(.success(let last)):
        if !clientGone { try? await response.write(last) }
        let s = last.stats
        ServingMetrics.generated(model: run.model.folder.name, stats: s)
        logger.info(
          "generate \(run.model.folder.name) decoder=\(run.prepared.decoder.name) prompt=\(s.promptTokens) generated=\(s.generatedTokens) forward=\(s.forwardPasses) finish=\(last.finishReason) prefill=\(String(format: "%.3f", s.prefillSeconds))s decode=\(String(format: "%.3f", s.decodeSeconds))s\(clientGone ? " (client gone)" : "")")
      case .finished(.failure(let error)):
        failure = error
      }
    }
    return failure
  }

  /// Score with the request metadata in reach, for the client's deadline (as `generate`).
  public func score(
    request: ServerRequest<Zoo_V1_ScoreRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Zoo_V1_ScoreResponse> {
    let (received, deadline) = Self.arrival(request.metadata)
    return StreamingServerResponse { writer in
      try await score(request: request.message, response: writer, received: received, deadline: deadline)
      return [:]
    }
  }

  /// Required by `SimpleServiceProtocol`; gRPC calls the overload above.
  public func score(
    request: Zoo_V1_ScoreRequest, response: RPCWriter<Zoo_V1_ScoreResponse>, context: ServerContext
  ) async throws {
    try await score(request: request, response: response, received: .now, deadline: nil)
  }

  /// Score for gRPC and HTTP alike, counted in the metrics by its outcome.
  func score(
    request: Zoo_V1_ScoreRequest, response: RPCWriter<Zoo_V1_ScoreResponse>,
    received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?
  ) async throws {
    try await counted("Score", since: received) { labels in
      try await score(request: request, response: response, received: received, deadline: deadline, labels: labels)
    }
  }

  private func score(
    request: Zoo_V1_ScoreRequest, response: RPCWriter<Zoo_V1_ScoreResponse>,
    received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?, labels: ServingMetrics.RequestLabels
  ) async throws {
    let requestContext = RequestContext()
    try mapped { try RequestValidation.check(request) }
    if let worker = try await mappedAsync({ try await runtime.worker(for: request.model) }) {
      labels.model = request.model
      try await isolated(worker, received: received, deadline: deadline) { timeout in
        try await worker.score(
          request,
          to: RPCWriter(wrapping: ServingMetrics.CountingWriter(client: response) {
            if $0.done { ServingMetrics.readPrompt(model: request.model, tokens: Int($0.scoredTokens)) }
          }), timeout: timeout)
      }
      return
    }
    let model = try await mappedAsync { try await runtime.model(request.model) }
    labels.model = model.folder.name
    try await withRPCCancellationHandler {
      let token = shutdown.register(requestContext)
      defer { shutdown.unregister(token) }
      do {
        let prepared = try runtime.prepareScore(
          text: request.tokenIds.isEmpty ? request.text : nil, tokenIDs: request.tokenIds,
          top: request.hasLogprobs ? Int(request.logprobs) : nil, scoreFirst: request.scoreFirstToken,
          window: Int(request.window), model: model)
        try await acquire(model, for: requestContext, received: received, deadline: deadline)
        defer { model.scheduler.release() }
        // Updates go out as the scoring thread makes them; none may be dropped (they
        // carry the entries), and a text's worth of them is bounded by the request size.
        let (updates, sink) = AsyncStream.makeStream(of: Zoo_V1_ScoreResponse.self)
        async let written: Void = { for await update in updates { try await response.write(update) } }()
        let last: Zoo_V1_ScoreResponse
        do {
          last = try await runtime.score(prepared, model: model, request: requestContext) { sink.yield($0) }
          sink.finish()
          try await written
        } catch {
          sink.finish()
          try? await written
          throw error
        }
        try await response.write(last)
        ServingMetrics.readPrompt(model: model.folder.name, tokens: Int(last.scoredTokens))
        logger.info(
          "score \(model.folder.name) tokens=\(last.totalTokens) scored=\(last.scoredTokens) model=\(String(format: "%.3f", last.seconds))s")
      } catch let error as ZooError {
        if error.code == .cancelled && endedByDeadline(deadline) {
          throw ZooError.deadlineExceeded("timed out: the client's deadline passed while scoring").rpcError
        }
        throw error.rpcError
      }
    } onCancelRPC: {
      requestContext.cancel()
      model.scheduler.cancelWaiter(for: requestContext)
    }
  }

  /// Embed with the request metadata in reach, for the client's deadline (as `generate`).
  public func embed(
    request: ServerRequest<Zoo_V1_EmbedRequest>, context: ServerContext
  ) async throws -> ServerResponse<Zoo_V1_EmbedResponse> {
    let (received, deadline) = Self.arrival(request.metadata)
    return ServerResponse(
      message: try await embed(request: request.message, received: received, deadline: deadline))
  }

  /// Required by `SimpleServiceProtocol`; gRPC calls the overload above.
  public func embed(request: Zoo_V1_EmbedRequest, context: ServerContext) async throws -> Zoo_V1_EmbedResponse {
    try await embed(request: request, received: .now, deadline: nil)
  }

  /// Embed for gRPC and HTTP alike, counted in the metrics by its outcome.
  func embed(
    request: Zoo_V1_EmbedRequest, received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?
  ) async throws -> Zoo_V1_EmbedResponse {
    try await counted("Embed", since: received) { labels in
      let response = try await embed(request: request, received: received, deadline: deadline, labels: labels)
      ServingMetrics.readPrompt(model: labels.model, tokens: Int(response.totalTokens))
      return response
    }
  }

  private func embed(
    request: Zoo_V1_EmbedRequest, received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?,
    labels: ServingMetrics.RequestLabels
  ) async throws -> Zoo_V1_EmbedResponse {
    let requestContext = RequestContext()
    try mapped { try RequestValidation.checkSize(request) }
    if let worker = try await mappedAsync({ try await runtime.worker(for: request.model) }) {
      labels.model = request.model
      return try await isolated(worker, received: received, deadline: deadline) { timeout in
        try await worker.embed(request, timeout: timeout)
      }
    }
    let model = try await mappedAsync { try await runtime.model(request.model) }
    labels.model = model.folder.name
    return try await withRPCCancellationHandler {
      let token = shutdown.register(requestContext)
      defer { shutdown.unregister(token) }
      do {
        // Tokenising a large batch takes a while too: it stops when the request does.
        let prepared = try runtime.prepareEmbedding(request, model: model, request: requestContext)
        try await acquire(model, for: requestContext, received: received, deadline: deadline)
        defer { model.scheduler.release() }
        let response = try await runtime.embed(prepared, model: model, request: requestContext)
        logger.info(
          "embed \(model.folder.name) texts=\(request.texts.count) tokens=\(response.totalTokens) model=\(String(format: "%.3f", response.seconds))s")
        return response
      } catch let error as ZooError {
        if error.code == .cancelled && endedByDeadline(deadline) {
          throw ZooError.deadlineExceeded(
            "timed out: the client's deadline passed while embedding \(request.texts.count) texts").rpcError
        }
        throw error.rpcError
      }
    } onCancelRPC: {
      requestContext.cancel()
      model.scheduler.cancelWaiter(for: requestContext)
    }
  }

  /// Waits for a slot on `model`; a wait that ends by the client's deadline is
  /// DEADLINE_EXCEEDED, saying how long it waited.
  private func acquire(
    _ model: LoadedModel, for request: RequestContext, received: ContinuousClock.Instant,
    deadline: ContinuousClock.Instant?
  ) async throws {
    try await acquire(model.scheduler, for: request, received: received, deadline: deadline)
  }

  private func acquire(
    _ scheduler: Scheduler, for request: RequestContext, received: ContinuousClock.Instant,
    deadline: ContinuousClock.Instant?
  ) async throws {
    do {
      try await scheduler.acquire(for: request)
    } catch let error as ZooError where error.code == .cancelled && endedByDeadline(deadline) {
      throw ZooError.deadlineExceeded(
        "timed out after \(String(format: "%.1f", (ContinuousClock.now - received).seconds)) s waiting for a slot on '\(scheduler.modelName)' (zood --parallel, --max-queue)")
    }
  }

  /// A request for a model whose plugin runs in a worker process: it waits for a slot
  /// here (so the queue and its limits are the same as in process), then `call` runs it
  /// on the worker with what is left of the client's deadline. A client's cancel
  /// cancels the worker's call.
  private func isolated<R: Sendable>(
    _ worker: ModelWorker, received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?,
    _ call: @escaping @Sendable (Duration?) async throws -> R
  ) async throws -> R {
    let requestContext = RequestContext()
    let task = Task {
      try await mappedAsync {
        try await acquire(worker.scheduler, for: requestContext, received: received, deadline: deadline)
      }
      defer { worker.scheduler.release() }
      return try await mappedAsync { try await call(deadline.map { max(.zero, $0 - .now) }) }
    }
    return try await withRPCCancellationHandler {
      do {
        return try await task.value
      } catch let error as RPCError where error.code != .cancelled {
        throw error
      } catch {
        // Cancelled here: by the client's deadline, or the client itself (who never sees it).
        throw endedByDeadline(deadline)
          ? ZooError.deadlineExceeded("timed out: the client's deadline passed while '\(worker.modelName)' ran the request").rpcError
          : ZooError.cancelled("cancelled by the client").rpcError
      }
    } onCancelRPC: {
      requestContext.cancel()
      worker.scheduler.cancelWaiter(for: requestContext)
      task.cancel()
    }
  }

  /// Whether a cancelled request ended by its deadline. gRPC reports a passed deadline as
  /// a cancel, with its own timer that starts before this handler runs, so comparing
  /// clocks here races it. A client that cancels never sees the status, so: a cancelled
  /// request that carried a timeout timed out, unless zood itself is stopping.
  private func endedByDeadline(_ deadline: ContinuousClock.Instant?) -> Bool {
    deadline != nil && !shutdown.isShuttingDown
  }

  /// When a request arrived, and its deadline if the client sent `grpc-timeout`.
  static func arrival(_ metadata: Metadata) -> (received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?) {
    let received = ContinuousClock.now
    let deadline = Array(metadata[stringValues: "grpc-timeout"]).first.flatMap(parseTimeout).map { received + $0 }
    return (received, deadline)
  }

  /// `grpc-timeout` per the gRPC HTTP/2 spec: up to 8 digits and a unit (H M S m u n).
  static func parseTimeout(_ value: String) -> Duration? {
    guard let unit = value.last, let amount = Int64(value.dropLast()), amount >= 0, value.count <= 9 else { return nil }
    switch unit {
    case "H": return .seconds(amount * 3600)
    case "M": return .seconds(amount * 60)
    case "S": return .seconds(amount)
    case "m": return .milliseconds(amount)
    case "u": return .microseconds(amount)
    case "n": return .nanoseconds(amount)
    default: return nil
    }
  }

  public func loadModel(request: Zoo_V1_LoadModelRequest, context: ServerContext) async throws
    -> Zoo_V1_LoadModelResponse
  {
    let model = try await load(request, onProgress: nil)
    return .with { $0.model = model }
  }

  public func loadModelWithProgress(
    request: Zoo_V1_LoadModelRequest, response: RPCWriter<Zoo_V1_LoadModelProgress>, context: ServerContext
  ) async throws {
    // Progress is a hint: when the client reads slowly, older updates give way to newer.
    let (updates, sink) = AsyncStream.makeStream(of: Zoo_V1_LoadModelProgress.self, bufferingPolicy: .bufferingNewest(8))
    async let forwarded: Void = { for await update in updates { try await response.write(update) } }()
    let model: Zoo_V1_LoadedModel
    do {
      model = try await load(request, onProgress: { sink.yield($0) })
      sink.finish()
      try await forwarded
    } catch {
      sink.finish()
      try? await forwarded
      throw error
    }
    try await response.write(.with {
      $0.stage = "loaded"
      $0.fraction = 1
      $0.model = model
    })
  }

  /// Loads a model in zood or in its worker, with progress for those who ask.
  private func load(_ request: Zoo_V1_LoadModelRequest, onProgress: LoadProgress.Watcher?) async throws
    -> Zoo_V1_LoadedModel
  {
    let keepAlive: Duration? = request.hasKeepAliveSeconds ? .seconds(Int(request.keepAliveSeconds)) : nil
    if let worker = try await mappedAsync({ try await runtime.worker(for: request.model) }) {
      if let keepAlive { worker.scheduler.setKeepAlive(keepAlive) }
      return try await mappedAsync { try await worker.load(onProgress: onProgress) }
    }
    let model = try await mappedAsync {
      try await runtime.model(request.model, keepAlive: keepAlive, onProgress: onProgress)
    }
    return Runtime.describe(model)
  }

  public func unloadModel(request: Zoo_V1_UnloadModelRequest, context: ServerContext) async throws
    -> Zoo_V1_UnloadModelResponse
  {
    try mapped { try runtime.unload(request.model) }
    return .init()
  }

  public func listLoaded(request: Zoo_V1_ListLoadedRequest, context: ServerContext) async throws
    -> Zoo_V1_ListLoadedResponse
  {
    let models = await runtime.loadedModels()
    return .with { $0.models = models }
  }

  // MARK: Tool gating, served by a middleware (MiddlewareRPC.swift)

  public func putToolCatalog(request: Zoo_V1_PutToolCatalogRequest, context: ServerContext) async throws
    -> Zoo_V1_PutToolCatalogResponse
  {
    try await middlewareRPC("PutToolCatalog", middleware: request.middleware, request)
  }

  public func listToolCatalogs(request: Zoo_V1_ListToolCatalogsRequest, context: ServerContext) async throws
    -> Zoo_V1_ListToolCatalogsResponse
  {
    try await middlewareRPC("ListToolCatalogs", middleware: request.middleware, request)
  }

  /// The middleware's options are checked against its declaration and filled with
  /// defaults here, as for a Generate request that names it.
  public func gateTools(request: Zoo_V1_GateToolsRequest, context: ServerContext) async throws
    -> Zoo_V1_GateToolsResponse
  {
    var checked = request
    try mapped {
      let kind = try runtime.middleware(serving: "GateTools", named: request.middleware).kind
      guard !request.query.isEmpty, request.query.utf8.count <= RequestLimits.toolQueryBytes else {
        throw ZooError.invalidArgument(
          "query must be 1...\(RequestLimits.toolQueryBytes) bytes of the user's message; got \(request.query.utf8.count)")
      }
      checked.options = try RequestValidation.checkedOptions(request.options, declared: kind.config, owner: "middleware '\(kind.name)'")
    }
    return try await middlewareRPC("GateTools", middleware: request.middleware, checked)
  }

  public func checkToolCall(request: Zoo_V1_CheckToolCallRequest, context: ServerContext) async throws
    -> Zoo_V1_CheckToolCallResponse
  {
    try await middlewareRPC("CheckToolCall", middleware: request.middleware, request)
  }

  /// One middleware RPC, cancelled with its client (and by shutdown).
  private func middlewareRPC<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ rpc: String, middleware: String, _ request: Request
  ) async throws -> Response {
    let requestContext = RequestContext()
    return try await withRPCCancellationHandler {
      let token = shutdown.register(requestContext)
      defer { shutdown.unregister(token) }
      let started = ContinuousClock.now
      let response: Response = try await mappedAsync {
        try await runtime.callMiddleware(rpc, middleware: middleware, request: request, context: requestContext)
      }
      logger.debug("\(rpc) answered in \(String(format: "%.3f", (ContinuousClock.now - started).seconds))s")
      return response
    } onCancelRPC: {
      requestContext.cancel()
    }
  }

  private func mapped<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ZooError { throw e.rpcError }
  }

  private func mappedAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as ZooError { throw e.rpcError }
  }
}
