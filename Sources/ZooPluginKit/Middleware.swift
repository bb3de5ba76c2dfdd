import CZooPlugin
import Foundation
import SwiftProtobuf
import ZooProto

/// Request middleware, registered by name: zood calls it for every Generate request
/// that names it, after validating the request and before tokenizing the prompt and
/// running the decoder. It may return a replacement request, which zood validates again.
public protocol RequestMiddleware {
  /// The manifest entry: name, description, config fields (its options), and the RPCs
  /// it serves (`rpcs`, see `MiddlewareRPCs`).
  static var declaration: Zoo_V1_MiddlewareKind { get }
  /// The request to run instead of `call.request`, or nil to keep it.
  static func handle(_ call: MiddlewareCall) throws -> Zoo_V1_GenerateRequest?
}

/// A middleware that also serves zoo.v1.Zoo RPCs of its own (ABI 1.5; the tool-gating
/// API): zood forwards each RPC named in `declaration.rpcs` to `serve`.
public protocol MiddlewareRPCs: RequestMiddleware {
  /// The response to one RPC, e.g. a `Zoo_V1_GateToolsResponse` for "GateTools". A thrown
  /// `PluginError` reaches the client with its code and message.
  static func serve(_ call: MiddlewareRPCCall) throws -> any SwiftProtobuf.Message
}

extension RequestMiddleware {
  /// The RPC half, for middleware that conforms to `MiddlewareRPCs`.
  static var rpcs: (any MiddlewareRPCs.Type)? { self as? any MiddlewareRPCs.Type }
}

/// One Generate request as a middleware sees it, with the host's text services.
public final class MiddlewareCall {
  /// The request, options filled by zood.
  public let request: Zoo_V1_GenerateRequest
  /// This middleware's options from the request, every declared one present (zood has
  /// checked them and filled defaults).
  public let options: [String: String]
  /// Tokenizer and embeddings, for this request.
  public let host: HostTextServices

  init(args: UnsafePointer<zoo_middleware_args>, name: String) throws {
    let a = args.pointee
    request = try Zoo_V1_GenerateRequest(
      serializedBytes: Array(UnsafeBufferPointer(start: a.generate_request, count: a.generate_request_len)))
    options = request.middleware.first { $0.name == name }?.options ?? [:]
    host = try HostTextServices(host: a.host, request: a.request)
  }

  /// True once the client cancelled.
  public var isCancelled: Bool { host.isCancelled }
  /// Token ids of `text` under the tokenizer of the request's model.
  public func tokenize(_ text: String) throws -> [Int32] { try host.tokenize(text) }
  /// The text of `tokens` under the tokenizer of the request's model.
  public func detokenize(_ tokens: [Int32]) throws -> String { try host.detokenize(tokens) }
  /// The sentence embedding of `text` under the model named `model`.
  public func embed(_ text: String, model: String) throws -> [Float] { try host.embed(text, model: model) }
}

/// One RPC call to a middleware (`MiddlewareRPCs.serve`).
public struct MiddlewareRPCCall {
  /// The RPC's method name, e.g. "GateTools".
  public let rpc: String
  /// The serialized request message; decode it as the RPC's request type.
  public let requestBytes: [UInt8]
  /// Embeddings and tokenizers of models by name (the call runs on no model of its own).
  public let host: HostTextServices

  init(args: UnsafePointer<zoo_middleware_call_args>) throws {
    let a = args.pointee
    rpc = a.rpc.map { String(cString: $0) } ?? ""
    requestBytes = a.request_len == 0 ? [] : Array(UnsafeBufferPointer(start: a.request_bytes, count: a.request_len))
    host = try HostTextServices(host: a.host, request: a.request)
  }

  /// The request decoded as `type`, or INVALID_ARGUMENT.
  public func request<M: SwiftProtobuf.Message>(as type: M.Type) throws -> M {
    do { return try M(serializedBytes: requestBytes) } catch {
      throw PluginError.invalidArgument("\(rpc): the request is not a \(M.protoMessageName): \(error)")
    }
  }
}

/// The host's text services for one request: tokenizers and sentence embeddings.
public struct HostTextServices {
  private let handle: OpaquePointer?
  private let host: UnsafePointer<zoo_host_api>

  init(host: UnsafePointer<zoo_host_api>, request: OpaquePointer?) throws {
    guard zoo_host_api_has_text_services(host) != 0, host.pointee.tokenize != nil else {
      throw PluginError.failedPrecondition("this zood predates ABI 1.2 and offers no tokenize, detokenize or embed service")
    }
    self.host = host
    self.handle = request
  }

  /// True once the client cancelled.
  public var isCancelled: Bool { host.pointee.is_cancelled(host.pointee.host_context, handle) != 0 }

  /// Token ids of `text` under the tokenizer of the request's model.
  public func tokenize(_ text: String) throws -> [Int32] {
    try withChars(text) { chars in
      // Tokenizers give at most about one token per byte (plus specials): one call.
      try HostBuffer.fill(capacity: chars.count + 16) { out, capacity, count, err in
        host.pointee.tokenize!(host.pointee.host_context, handle, chars.baseAddress, chars.count, out, capacity, count, err)
      }
    }
  }

  /// Token ids of `text` under the tokenizer of the model named `model` (loaded by zood
  /// if needed). Needs a zood of ABI 1.5 or later.
  public func tokenize(_ text: String, model: String) throws -> [Int32] {
    guard zoo_host_api_has_tokenize_with(host) != 0, let tokenizeWith = host.pointee.tokenize_with else {
      throw PluginError.failedPrecondition("this zood predates ABI 1.5 and cannot tokenize under a named model")
    }
    return try withChars(text) { chars in
      try model.withCString { name in
        try HostBuffer.fill(capacity: chars.count + 16) { out, capacity, count, err in
          tokenizeWith(host.pointee.host_context, handle, name, chars.baseAddress, chars.count, out, capacity, count, err)
        }
      }
    }
  }

  /// The text of `tokens` under the tokenizer of the request's model.
  public func detokenize(_ tokens: [Int32]) throws -> String {
    let bytes: [CChar] = try HostBuffer.fill { out, capacity, count, err in
      tokens.withUnsafeBufferPointer { t in
        host.pointee.detokenize!(host.pointee.host_context, handle, t.baseAddress, Int64(t.count), out, capacity, count, err)
      }
    }
    return String(decoding: bytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The sentence embedding of `text` under the model named `model` (loaded by zood
  /// if needed).
  public func embed(_ text: String, model: String) throws -> [Float] {
    try withChars(text) { chars in
      try model.withCString { name in
        // Room for any embedding size up front: a retry would embed the text again.
        try HostBuffer.fill(capacity: 8192) { out, capacity, count, err in
          host.pointee.embed!(host.pointee.host_context, handle, name, chars.baseAddress, chars.count, out, capacity, count, err)
        }
      }
    }
  }

  private func withChars<T>(_ text: String, _ body: (UnsafeBufferPointer<CChar>) throws -> T) rethrows -> T {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBufferPointer { b in try b.withMemoryRebound(to: CChar.self) { try body($0) } }
  }
}

/// The host's output convention: a call writes at most `capacity` elements and always
/// sets the count it needs, answering RESOURCE_EXHAUSTED when that did not fit.
enum HostBuffer {
  static func fill<T: Numeric>(
    capacity initial: Int = 256,
    _ call: (UnsafeMutablePointer<T>?, Int64, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<zoo_error>) -> Int32
  ) throws -> [T] {
    var capacity = initial
    while true {
      var buffer = [T](repeating: 0, count: capacity)
      var needed: Int64 = 0
      var err = zoo_error.empty
      let rc = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, Int64(capacity), &needed, &err) }
      if rc == Int32(ZOO_ERR_RESOURCE_EXHAUSTED.rawValue) && Int(needed) > capacity {
        capacity = Int(needed)
        continue
      }
      try check(rc, err)
      return Array(buffer.prefix(Int(needed)))
    }
  }
}
