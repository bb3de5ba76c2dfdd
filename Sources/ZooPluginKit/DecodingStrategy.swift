import CZooPlugin
import Foundation
import ZooCore
import ZooProto

/// Why a decoder stopped (zoo_finish_reason). zood decides the reason the client sees,
/// from this one and what it saw in the emitted events.
public enum FinishReason: Int32, Sendable {
  /// The decoder reached its length limit.
  case length = 1
  /// zood asked to stop (emit returned false).
  case stop = 2
  /// The model produced an end-of-sequence token that was not emitted.
  case eos = 3
  /// The request was cancelled.
  case cancelled = 4
}

/// A decoding scheme, registered by name. `run` drives the model through
/// `session.model` and reports every token through `session.emit`.
public protocol DecodingStrategy {
  /// The manifest entry: name, description, what it needs from a model, options.
  static var declaration: Zoo_V1_DecoderKind { get }
  /// Generates for one request. Throwing `PluginError.cancelled` (as the session's
  /// helpers do once the request is cancelled) reports a cancel.
  static func run(_ session: DecodeSession) throws -> FinishReason
}

/// Where an emitted token goes in the generated sequence (zoo_token_op). Positions
/// count generated tokens from 0; the prompt is not counted.
public enum TokenPlacement: Sendable, Equatable {
  /// After the last generated token.
  case append
  /// Position `p` now holds the token (masked diffusion); may leave holes before it.
  case set(Int)
  /// The token becomes position `p`; later tokens move up by one (insertion LMs).
  case insert(Int)
}

/// A sampled token with what `emit` reports about it.
public struct SampledToken: Sendable {
  /// The token id.
  public var id: Int32
  /// Its log-probability under the raw logits; 0 when the request asked for none.
  public var logprob: Float
  /// The most likely alternatives, when the request asked for logprobs.
  public var top: [(id: Int32, logprob: Float)]

  /// A token as a decoder that samples by its own rules reports it.
  public init(id: Int32, logprob: Float, top: [(id: Int32, logprob: Float)]) {
    self.id = id
    self.logprob = logprob
    self.top = top
  }
}

/// One generation request as a decoder sees it, with the helpers every decoder needs:
/// options, prefill, a step, sampling with logprobs, and emit.
public final class DecodeSession {
  /// The model to drive (possibly from another plugin). Its table is zood's, which
  /// counts forward calls and refuses NaN logits.
  public let model: ModelHandle
  /// The prompt's token ids (at least one, unless `gaps` is set).
  public let prompt: [Int32]
  /// For a decoder that fills gaps (`Zoo_V1_DecoderKind.fillsGaps`) given a template:
  /// `prompt.count + 1` flags, `gaps[k]` allowing insertions right before prompt token k
  /// (k = prompt.count: after the last). Emitted positions then count the prompt's
  /// tokens too. nil for a plain prompt, continued after its last token.
  public let gaps: [Bool]?
  /// The request's options, defaults filled and ranges checked by zood: max_tokens > 0,
  /// temperature/top_k/top_p/seed set, every declared decoder option present.
  public let options: Zoo_V1_GenerateOptions
  /// Ids that end a sequence. zood ends the text at an emitted one, so a decoder may
  /// emit it like any token.
  public let eosTokens: Set<Int32>
  /// The opaque request handle, for forward calls that poll cancellation.
  public let request: OpaquePointer?
  private let args: UnsafePointer<zoo_decode_args>
  /// Tokens emitted with `.append`, for their commit mark.
  private var appended = 0

  init(args: UnsafePointer<zoo_decode_args>) throws {
    let a = args.pointee
    self.args = args
    self.model = try ModelHandle(api: a.model_api, model: a.model!)
    self.prompt = Array(UnsafeBufferPointer(start: a.prompt, count: Int(a.n_prompt)))
    self.options = try Zoo_V1_GenerateOptions(
      serializedBytes: Array(UnsafeBufferPointer(start: a.options, count: a.options_len)))
    self.eosTokens = Set(UnsafeBufferPointer(start: a.eos_tokens, count: Int(a.n_eos_tokens)))
    self.request = a.request
    self.gaps =
      zoo_decode_args_has_gaps(args) != 0 && a.gaps != nil
      ? UnsafeBufferPointer(start: a.gaps, count: Int(a.n_prompt) + 1).map { $0 != 0 } : nil
  }

  /// True once the client cancelled, disconnected or passed its deadline.
  public var isCancelled: Bool {
    let host = args.pointee.host.pointee
    return host.is_cancelled(host.host_context, args.pointee.request) != 0
  }

  /// Throws `PluginError.cancelled` once the request is cancelled.
  public func checkCancelled() throws {
    if isCancelled { throw PluginError.cancelled() }
  }

  // MARK: Options

  /// The decoder option `name` as text (zood has checked it against the declaration).
  public func option(_ name: String) throws -> String {
    guard let value = options.decoderOptions[name] else {
      throw PluginError.invalidArgument("decoder option '\(name)' is missing; zood fills every declared option")
    }
    return value
  }

  /// The decoder option `name` as an integer.
  public func intOption(_ name: String) throws -> Int {
    let text = try option(name)
    guard let value = Int(text) else { throw PluginError.invalidArgument("decoder option '\(name)' is not an integer: \(text)") }
    return value
  }

  /// The decoder option `name` as a number.
  public func floatOption(_ name: String) throws -> Double {
    let text = try option(name)
    guard let value = Double(text) else { throw PluginError.invalidArgument("decoder option '\(name)' is not a number: \(text)") }
    return value
  }

  /// The decoder option `name` as a boolean ("true" or "false").
  public func boolOption(_ name: String) throws -> Bool {
    switch try option(name) {
    case "true": return true
    case "false": return false
    case let text: throw PluginError.invalidArgument("decoder option '\(name)' is not true or false: \(text)")
    }
  }

  // MARK: Model calls

  /// Runs the prompt through `state` in one forward call and returns the last prompt
  /// position's logits (one row of the vocabulary).
  public func prefill(_ state: ModelHandle.State, mask: MaskKind = .causal) throws -> [Float] {
    var logits = [Float](repeating: 0, count: model.info.vocabularySize)
    let lastRow = [Int64(prompt.count - 1)]
    try prompt.withUnsafeBufferPointer { tokens in
      try lastRow.withUnsafeBufferPointer { rows in
        try logits.withUnsafeMutableBufferPointer { out in
          try model.forward(tokens, state: state, mask: mask, logitRows: rows, logits: out.baseAddress, request: request)
        }
      }
    }
    return logits
  }

  /// Feeds one token to `state` and writes the next position's logits into `logits`.
  public func step(_ token: Int32, state: ModelHandle.State, logits: inout [Float]) throws {
    try withUnsafePointer(to: token) { t in
      try logits.withUnsafeMutableBufferPointer { out in
        try model.forward(
          UnsafeBufferPointer(start: t, count: 1), state: state, logits: out.baseAddress, request: request)
      }
    }
  }

  /// A sampler for this request's temperature, top-k, top-p, seed and logprobs.
  public func makeSampler() -> TokenSampler {
    TokenSampler(
      options: SamplingOptions(
        temperature: options.temperature, topK: Int(options.topK), topP: options.topP, seed: options.seed),
      logprobs: Int(options.logprobs))
  }

  // MARK: Emit

  /// Reports a sampled token; see `emit(_:at:committed:logprob:top:)`.
  public func emit(_ token: SampledToken, at placement: TokenPlacement = .append, committed: Int? = nil) -> Bool {
    emit(token.id, at: placement, committed: committed, logprob: token.logprob, top: token.top)
  }

  /// Reports one token placed in the generated sequence. `committed` says positions
  /// [0, committed) are final; nil means "all appended so far" for `.append` (a
  /// left-to-right decoder never revisits a token) and "no change" otherwise. Returns
  /// false when zood wants generation to stop (a stop string, an end-of-sequence token
  /// or max_tokens in the committed text, or a cancel); the decoder then returns `.stop`.
  public func emit(
    _ token: Int32, at placement: TokenPlacement = .append, committed: Int? = nil, logprob: Float = 0,
    top: [(id: Int32, logprob: Float)] = []
  ) -> Bool {
    var event = zoo_token_event()
    event.size = UInt32(MemoryLayout<zoo_token_event>.size)
    event.token = token
    event.logprob = logprob
    event.n_top = Int32(top.count)
    switch placement {
    case .append:
      appended += 1
      event.op = Int32(ZOO_TOKEN_APPEND.rawValue)
      event.committed = Int64(committed ?? appended)
    case .set(let p):
      event.op = Int32(ZOO_TOKEN_SET.rawValue)
      event.position = Int64(p)
      event.committed = Int64(committed ?? 0)
    case .insert(let p):
      event.op = Int32(ZOO_TOKEN_INSERT.rawValue)
      event.position = Int64(p)
      event.committed = Int64(committed ?? 0)
    }
    if top.isEmpty { return args.pointee.emit(args.pointee.emit_context, &event) == 0 }
    let ids = top.map(\.id)
    let logprobs = top.map(\.logprob)
    return ids.withUnsafeBufferPointer { idp in
      logprobs.withUnsafeBufferPointer { lpp in
        event.top_tokens = idp.baseAddress
        event.top_logprobs = lpp.baseAddress
        return args.pointee.emit(args.pointee.emit_context, &event) == 0
      }
    }
  }
}

/// ZooCore's `Sampler` plus what a decoder reports with each token: the chosen token's
/// logprob and the top alternatives, when the request asked for logprobs.
public struct TokenSampler {
  /// The sampling options and seeded generator.
  public var sampler: Sampler
  /// Alternatives to report per token; 0 skips the logprob work.
  public let logprobs: Int

  /// A sampler for `options`, reporting `logprobs` alternatives.
  public init(options: SamplingOptions, logprobs: Int) {
    sampler = Sampler(options: options)
    self.logprobs = logprobs
  }

  /// Samples one token from a row of logits.
  public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> SampledToken {
    let id = sampler.sample(logits)
    guard logprobs > 0 else { return SampledToken(id: id, logprob: 0, top: []) }
    let distribution = LogProbabilities(logits)
    return SampledToken(
      id: id, logprob: distribution.logprob(logits[Int(id)]), top: distribution.top(logprobs, of: logits))
  }

  /// Samples one token from a row of logits.
  public mutating func next(_ logits: [Float]) -> SampledToken {
    logits.withUnsafeBufferPointer { next($0) }
  }
}
