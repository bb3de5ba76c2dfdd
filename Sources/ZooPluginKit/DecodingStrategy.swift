import CZooPlugin
import Foundation
import ZooProto

/// Why a decoder stopped (zoo_finish_reason).
public enum FinishReason: Int32, Sendable {
  case length = 1, stop = 2, eos = 3, cancelled = 4
}

/// A decoding scheme, registered by name. `run` drives the model through
/// `session.model` and reports every token through `session.emit`.
public protocol DecodingStrategy {
  /// The manifest entry: name, description, required causality, options.
  static var declaration: Zoo_V1_DecoderKind { get }
  static func run(_ session: DecodeSession) throws -> FinishReason
}

/// One generation request as a decoder sees it.
public final class DecodeSession {
  /// The model to drive (possibly from another plugin).
  public let model: ModelHandle
  public let prompt: [Int32]
  /// The request's options, defaults already filled in and ranges checked by zood:
  /// max_tokens > 0, temperature/top_k/top_p/seed set.
  public let options: Zoo_V1_GenerateOptions
  public let eosTokens: Set<Int32>
  /// The opaque request handle, for forward calls that poll cancellation.
  public let request: OpaquePointer?
  private let args: UnsafePointer<zoo_decode_args>

  init(args: UnsafePointer<zoo_decode_args>) throws {
    let a = args.pointee
    self.args = args
    self.model = try ModelHandle(api: a.model_api, model: a.model!)
    self.prompt = Array(UnsafeBufferPointer(start: a.prompt, count: Int(a.n_prompt)))
    self.options = try Zoo_V1_GenerateOptions(
      serializedBytes: Array(UnsafeBufferPointer(start: a.options, count: a.options_len)))
    self.eosTokens = Set(UnsafeBufferPointer(start: a.eos_tokens, count: Int(a.n_eos_tokens)))
    self.request = a.request
  }

  /// True once the client cancelled, disconnected or passed its deadline.
  public var isCancelled: Bool {
    let host = args.pointee.host.pointee
    return host.is_cancelled(host.host_context, args.pointee.request) != 0
  }

  /// Reports one token. Returns false when zood wants generation to stop (a stop
  /// string was matched); the decoder then returns `.stop`.
  public func emit(token: Int32, logprob: Float, top: [(id: Int32, logprob: Float)] = []) -> Bool {
    let ids = top.map(\.id)
    let lps = top.map(\.logprob)
    return ids.withUnsafeBufferPointer { idp in
      lps.withUnsafeBufferPointer { lpp in
        var ev = zoo_token_event()
        ev.size = UInt32(MemoryLayout<zoo_token_event>.size)
        ev.token = token
        ev.logprob = logprob
        ev.n_top = Int32(top.count)
        ev.top_tokens = idp.baseAddress
        ev.top_logprobs = lpp.baseAddress
        return args.pointee.emit(args.pointee.emit_context, &ev) == 0
      }
    }
  }
}
