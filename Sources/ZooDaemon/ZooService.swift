import Foundation
import GRPCCore
import Logging
import ZooProto
import ZooRPC

/// zoo.v1.Zoo over gRPC: translates requests to `Runtime` calls and `ZooError`s to
/// status codes. The request path reads top to bottom in `generate`.
public struct ZooService: Zoo_V1_Zoo.SimpleServiceProtocol {
  let runtime: Runtime
  let shutdown: ShutdownSignal
  let logger: Logger

  public init(runtime: Runtime, shutdown: ShutdownSignal, logger: Logger) {
    self.runtime = runtime
    self.shutdown = shutdown
    self.logger = logger
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
    let received = ContinuousClock.now
    let deadline = Array(request.metadata[stringValues: "grpc-timeout"]).first
      .flatMap(Self.parseTimeout).map { received + $0 }
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

  func generate(
    request: Zoo_V1_GenerateRequest, response: RPCWriter<Zoo_V1_GenerateResponse>,
    received: ContinuousClock.Instant, deadline: ContinuousClock.Instant?
  ) async throws {
    let requestContext = RequestContext()
    // 1. Validate options that need no model, so a bad request never loads one.
    let options = try mapped { try Runtime.validate(request.options) }
    // 2. Find (and if needed load) the model, then check the request against it.
    let model = try await mappedAsync { try await runtime.model(request.model) }
    let prepared = try mapped { try runtime.prepare(request, options: options, model: model) }
    guard let decoder = runtime.decoders[prepared.decoder]?.plugin else {
      throw RPCError(code: .invalidArgument, message: "unknown decoder '\(prepared.decoder)'")
    }
    // gRPC signals cancellation (client cancel, disconnect, deadline) through this
    // handler, not by cancelling the task; shutdown cancels every request the same way.
    try await withRPCCancellationHandler {
      let token = shutdown.register(requestContext)
      defer { shutdown.unregister(token) }
      // 3. Wait for a slot on the model.
      try await mappedAsync { try await model.acquireSlot(for: requestContext) }
      let queueSeconds = (ContinuousClock.now - received).seconds
      // 4. Run the decoder on its own thread; stream each token as it arrives.
      let events = GenerationRun.start(
        model: model, prepared: prepared, request: requestContext, decoder: decoder, queueSeconds: queueSeconds)
      var failure: ZooError?
      var clientGone = false
      for await event in events {
        switch event {
        case .token(let message) where !clientGone:
          do { try await response.write(message) } catch {
            // The client vanished: stop the decoder, keep draining until it has.
            clientGone = true
            requestContext.cancel()
          }
        case .token:
          continue
        case .finished(.success(let last)):
          if last.finishReason == .cancelled, let deadline, ContinuousClock.now >= deadline {
            failure = .deadlineExceeded(
              "timed out: the client's deadline passed after \(last.stats.generatedTokens) generated tokens")
          } else if !clientGone {
            try? await response.write(last)
          }
          let s = last.stats
          logger.info(
            "generate \(model.folder.name) decoder=\(prepared.decoder) prompt=\(s.promptTokens) generated=\(s.generatedTokens) finish=\(last.finishReason) prefill=\(String(format: "%.3f", s.prefillSeconds))s decode=\(String(format: "%.3f", s.decodeSeconds))s\(clientGone ? " (client gone)" : "")")
        case .finished(.failure(let error)):
          logger.warning("generate \(model.folder.name) failed: \(error.message)")
          failure = error
        }
      }
      // 5. The decoder has returned and freed its state: the slot is free now.
      model.releaseSlot()
      if let failure { throw failure.rpcError }
    } onCancelRPC: {
      requestContext.cancel()
      model.cancelWaiter(for: requestContext)
    }
  }

  public func embed(request: Zoo_V1_EmbedRequest, context: ServerContext) async throws -> Zoo_V1_EmbedResponse {
    let requestContext = RequestContext()
    let model = try await mappedAsync { try await runtime.model(request.model) }
    let prepared = try mapped { try runtime.prepareEmbedding(request, model: model) }
    return try await withRPCCancellationHandler {
      let token = shutdown.register(requestContext)
      defer { shutdown.unregister(token) }
      try await mappedAsync { try await model.acquireSlot(for: requestContext) }
      defer { model.releaseSlot() }
      let response = try await mappedAsync { try await runtime.embed(prepared, model: model, request: requestContext) }
      logger.info(
        "embed \(model.folder.name) texts=\(request.texts.count) tokens=\(response.totalTokens) model=\(String(format: "%.3f", response.seconds))s")
      return response
    } onCancelRPC: {
      requestContext.cancel()
      model.cancelWaiter(for: requestContext)
    }
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
    let keepAlive: Duration? = request.hasKeepAliveSeconds ? .seconds(Int(request.keepAliveSeconds)) : nil
    let model = try await mappedAsync { try await runtime.model(request.model, keepAlive: keepAlive) }
    return .with { $0.model = Runtime.describe(model) }
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

  private func mapped<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ZooError { throw e.rpcError }
  }

  private func mappedAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as ZooError { throw e.rpcError }
  }
}
