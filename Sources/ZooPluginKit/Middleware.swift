import CZooPlugin
import Foundation
import ZooProto

/// Request middleware, registered by name: zood calls it for every Generate request
/// that names it, after validating the request and before tokenizing the prompt and
/// running the decoder. It may return a replacement request, which zood validates again.
public protocol RequestMiddleware {
  /// The manifest entry: name, description, config fields (its options).
  static var declaration: Zoo_V1_MiddlewareKind { get }
  /// The request to run instead of `call.request`, or nil to keep it.
  static func handle(_ call: MiddlewareCall) throws -> Zoo_V1_GenerateRequest?
}

/// One Generate request as a middleware sees it, with the host's text services.
public final class MiddlewareCall {
  /// The request, options filled by zood.
  public let request: Zoo_V1_GenerateRequest
  /// This middleware's options from the request, every declared one present (zood has
  /// checked them and filled defaults).
  public let options: [String: String]
  private let handle: OpaquePointer?
  private let host: UnsafePointer<zoo_host_api>

  init(args: UnsafePointer<zoo_middleware_args>, name: String) throws {
    let a = args.pointee
    request = try Zoo_V1_GenerateRequest(
      serializedBytes: Array(UnsafeBufferPointer(start: a.generate_request, count: a.generate_request_len)))
    options = request.middleware.first { $0.name == name }?.options ?? [:]
    handle = a.request
    host = a.host
    guard zoo_host_api_has_text_services(a.host) != 0, a.host.pointee.tokenize != nil else {
      throw PluginError.failedPrecondition("this zood predates ABI 1.2 and offers no tokenize, detokenize or embed service")
    }
  }

  /// True once the client cancelled.
  public var isCancelled: Bool { host.pointee.is_cancelled(host.pointee.host_context, handle) != 0 }

  /// Token ids of `text` under the tokenizer of the request's model.
  public func tokenize(_ text: String) throws -> [Int32] {
    let bytes = Array(text.utf8)
    return try HostBuffer.fill { out, capacity, count, err in
      bytes.withUnsafeBufferPointer { b in
        b.withMemoryRebound(to: CChar.self) { chars in
          host.pointee.tokenize!(
            host.pointee.host_context, handle, chars.baseAddress, chars.count, out, capacity, count, err)
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
    let bytes = Array(text.utf8)
    return try HostBuffer.fill { out, capacity, count, err in
      bytes.withUnsafeBufferPointer { b in
        b.withMemoryRebound(to: CChar.self) { chars in
          model.withCString { name in
            host.pointee.embed!(
              host.pointee.host_context, handle, name, chars.baseAddress, chars.count, out, capacity, count, err)
          }
        }
      }
    }
  }
}

/// The host's output convention: a call writes at most `capacity` elements and always
/// sets the count it needs, answering RESOURCE_EXHAUSTED when that did not fit.
enum HostBuffer {
  static func fill<T: Numeric>(
    _ call: (UnsafeMutablePointer<T>?, Int64, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<zoo_error>) -> Int32
  ) throws -> [T] {
    var capacity = 256
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
