import CZooPlugin
import Foundation
import ZooABI
import ZooCore
import ZooProto

extension Runtime {
  /// Runs the middleware `request` names, in order, each on its own thread (middleware
  /// may block on the host's services). A rewritten request is checked again like a new
  /// one: its sizes and options, and it must name the same model. The list of middleware
  /// is the client's: a rewrite cannot add or drop one.
  func applyMiddleware(
    _ request: Zoo_V1_GenerateRequest, model: LoadedModel, context: RequestContext
  ) async throws -> Zoo_V1_GenerateRequest {
    let calls = request.middleware
    var current = request
    for (index, call) in calls.enumerated() {
      guard let (plugin, kind) = middleware[call.name] else {
        throw ZooError.invalidArgument(
          "unknown middleware '\(call.name.clipped())'; available: \(middleware.isEmpty ? "none" : middleware.keys.sorted().joined(separator: ", "))")
      }
      current.middleware = calls
      current.middleware[index].options = try RequestValidation.checkedOptions(
        call.options, declared: kind.config, owner: "middleware '\(call.name)'")
      guard let api = plugin.middlewareAPI(for: call.name) else {
        throw ZooError.unavailable("plugin '\(plugin.name)' declares middleware '\(call.name)' but gave no table for it")
      }
      let input = current
      nonisolated(unsafe) let table = api  // a plugin's static table, valid for the process
      let rewritten = try await Self.onThread(named: "zoo-middleware-\(call.name)") {
        try Self.invoke(table, name: call.name, request: input, plugin: plugin, context: context)
      }
      guard let rewritten else { continue }
      guard rewritten.model == request.model else {
        throw ZooError.internalError(
          "middleware '\(call.name)' changed the request's model from '\(request.model)' to '\(rewritten.model.clipped())'; middleware may not switch models")
      }
      try RequestValidation.checkSize(rewritten)
      current = rewritten
      current.options = try RequestValidation.validate(rewritten.options)
    }
    current.middleware = calls
    return current
  }

  /// Calls one middleware's C table; the replacement request, if it gave one.
  private static func invoke(
    _ api: UnsafePointer<zoo_middleware_api>, name: String, request: Zoo_V1_GenerateRequest, plugin: LoadedPlugin,
    context: RequestContext
  ) throws -> Zoo_V1_GenerateRequest? {
    let bytes: [UInt8] = try request.serializedBytes()
    final class Replacement { var bytes: [UInt8]? }
    let replacement = Replacement()
    var err = zoo_error.empty
    let rc = name.withCString { cname in
      bytes.withUnsafeBufferPointer { b in
        var args = zoo_middleware_args()
        args.size = UInt32(MemoryLayout<zoo_middleware_args>.size)
        args.middleware = cname
        args.generate_request = b.baseAddress
        args.generate_request_len = b.count
        args.request = context.opaque
        args.host = UnsafePointer(plugin.host.table)
        args.rewrite_context = Unmanaged.passUnretained(replacement).toOpaque()
        args.rewrite = { context, data, count in
          guard let context, let data else { return Int32(ZOO_ERR_INVALID_ARGUMENT.rawValue) }
          Unmanaged<Replacement>.fromOpaque(context).takeUnretainedValue().bytes = Array(
            UnsafeBufferPointer(start: data, count: count))
          return 0
        }
        return api.pointee.on_generate(&args, &err)
      }
    }
    guard rc == 0 else {
      throw ZooError.fromPlugin(rc, PluginError(code: rc, from: err).message, context: "middleware '\(name)'")
    }
    guard let replaced = replacement.bytes else { return nil }
    do {
      return try Zoo_V1_GenerateRequest(serializedBytes: replaced)
    } catch {
      throw ZooError.internalError("middleware '\(name)' rewrote the request into bytes that are not a GenerateRequest: \(error)")
    }
  }

  /// Runs blocking plugin code on a thread of its own, off the async pool.
  static func onThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      let thread = Thread { continuation.resume(with: Result { try body() }) }
      thread.name = name
      thread.stackSize = 8 << 20
      thread.start()
    }
  }

  /// One text's embedding under the model named `name`, for the host's embed service:
  /// the same path as an Embed request (load, tokenize, slot, forward).
  func embedText(_ text: String, model name: String, request: RequestContext) async throws -> [Float] {
    let model = try await model(name)
    let prepared = try prepareEmbedding(
      .with {
        $0.model = name
        $0.texts = [text]
      }, model: model, request: request)
    try await model.scheduler.acquire(for: request)
    defer { model.scheduler.release() }
    return try await embed(prepared, model: model, request: request).embeddings[0].values
  }
}
