import CZooPlugin
import Foundation
import SwiftProtobuf
import ZooABI
import ZooProto

/// The zoo.v1.Zoo RPCs a middleware may serve (MiddlewareKind.rpcs) through
/// zoo_middleware_api.call: the tool-gating API. zood checks what it can without knowing
/// tools (the middleware exists and serves the RPC, its options), and the middleware does
/// the rest.
enum MiddlewareRPC {
  static let all: Set<String> = ["PutToolCatalog", "ListToolCatalogs", "GateTools", "CheckToolCall"]
}

extension Runtime {
  /// The middleware that serves `rpc`: the one the client named, else the only one that
  /// lists it.
  func middleware(serving rpc: String, named name: String) throws -> (plugin: LoadedPlugin, kind: Zoo_V1_MiddlewareKind) {
    if !name.isEmpty {
      guard let found = middleware[name] else {
        throw ZooError.notFound(
          "unknown middleware '\(name.clipped())'; available: \(middleware.isEmpty ? "none" : middleware.keys.sorted().joined(separator: ", "))")
      }
      guard found.kind.rpcs.contains(rpc) else {
        throw ZooError.unimplemented("middleware '\(name)' does not serve \(rpc); it serves \(found.kind.rpcs.isEmpty ? "no RPCs" : found.kind.rpcs.joined(separator: ", "))")
      }
      return found
    }
    let serving = middleware.filter { $0.value.kind.rpcs.contains(rpc) }.sorted { $0.key < $1.key }
    guard let first = serving.first else {
      throw ZooError.unimplemented(
        "no loaded middleware serves \(rpc): install the ToolGate plugin (libZooToolGate.so) in zood's plugins folder and see `zoo plugins`")
    }
    guard serving.count == 1 else {
      throw ZooError.invalidArgument(
        "several middleware serve \(rpc) (\(serving.map(\.key).joined(separator: ", "))): name one in the request's middleware field")
    }
    return first.value
  }

  /// Forwards one RPC to a middleware's `call` on a thread of its own, and decodes its
  /// answer as `Response`.
  func callMiddleware<Response: SwiftProtobuf.Message>(
    _ rpc: String, middleware name: String, request: some SwiftProtobuf.Message, context: RequestContext,
    as: Response.Type = Response.self
  ) async throws -> Response {
    let (plugin, kind) = try middleware(serving: rpc, named: name)
    guard let api = plugin.middlewareAPI(for: kind.name), zoo_middleware_api_has_call(api) != 0 else {
      throw ZooError.unavailable("plugin '\(plugin.name)' lists \(rpc) for middleware '\(kind.name)' but gave no call for it")
    }
    context.services = RequestServices(model: nil, runtime: self)
    let bytes: [UInt8] = try request.serializedBytes()
    nonisolated(unsafe) let table = api  // a plugin's static table, valid for the process
    let reply = try await Self.onThread(named: "zoo-middleware-\(kind.name)") {
      try Self.call(table, rpc: rpc, middleware: kind.name, bytes: bytes, plugin: plugin, context: context)
    }
    do {
      return try Response(serializedBytes: reply)
    } catch {
      throw ZooError.internalError("middleware '\(kind.name)' answered \(rpc) with bytes that are not a \(Response.protoMessageName): \(error)")
    }
  }

  private static func call(
    _ api: UnsafePointer<zoo_middleware_api>, rpc: String, middleware: String, bytes: [UInt8], plugin: LoadedPlugin,
    context: RequestContext
  ) throws -> [UInt8] {
    final class Reply { var bytes: [UInt8]? }
    let reply = Reply()
    var err = zoo_error.empty
    let rc = middleware.withCString { cname in
      rpc.withCString { crpc in
        bytes.withUnsafeBufferPointer { b in
          var args = zoo_middleware_call_args()
          args.size = UInt32(MemoryLayout<zoo_middleware_call_args>.size)
          args.middleware = cname
          args.rpc = crpc
          args.request_bytes = b.baseAddress
          args.request_len = b.count
          args.request = context.opaque
          args.host = UnsafePointer(plugin.host.table)
          args.reply_context = Unmanaged.passUnretained(reply).toOpaque()
          args.reply = { context, data, count in
            guard let context else { return Int32(ZOO_ERR_INVALID_ARGUMENT.rawValue) }
            let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
            Unmanaged<Reply>.fromOpaque(context).takeUnretainedValue().bytes = bytes
            return 0
          }
          return api.pointee.call(&args, &err)
        }
      }
    }
    guard rc == 0 else {
      throw ZooError.fromPlugin(rc, PluginError(code: rc, from: err).message, context: "middleware '\(middleware)'")
    }
    guard let answer = reply.bytes else {
      throw ZooError.internalError("middleware '\(middleware)' returned from \(rpc) without an answer")
    }
    return answer
  }
}
