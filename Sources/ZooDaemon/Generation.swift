import CZooPlugin
import Foundation
import ZooCore
import ZooPluginKit
import ZooProto

/// One event of a running generation, produced on the decoder's thread.
enum GenerationEvent: Sendable {
  /// A generated token, with the text it released (may be empty while held back).
  case token(Zoo_V1_GenerateResponse)
  /// The decoder returned: the final message, or the error that ended it.
  case finished(Result<Zoo_V1_GenerateResponse, ZooError>)
}

/// Defaults applied when a request leaves an option unset (Ollama's defaults).
enum OptionDefaults {
  static let maxTokens: Int32 = 128
  static let temperature: Float = 0.8
  static let topK: Int32 = 40
  static let topP: Float = 0.9
}

/// A validated request, ready to run: token ids, resolved decoder, concrete options.
struct PreparedGeneration: Sendable {
  let prompt: [Int32]
  let decoder: String
  let options: Zoo_V1_GenerateOptions
  let tokenizer: (any Tokenizer)?
  let eosTokens: [Int32]
}

extension Runtime {
  /// Checks options and fills every default, so decoders see concrete values.
  static func validate(_ o: Zoo_V1_GenerateOptions) throws -> Zoo_V1_GenerateOptions {
    var o = o
    func bad(_ m: String) -> ZooError { .invalidArgument(m) }
    guard (0...65536).contains(o.maxTokens) else { throw bad("max_tokens must be in 0...65536 (0 = \(OptionDefaults.maxTokens)); got \(o.maxTokens)") }
    if o.hasTemperature, !(o.temperature >= 0 && o.temperature <= 100) {
      throw bad("temperature must be in [0, 100] (0 = greedy); got \(o.temperature)")
    }
    if o.hasTopK, o.topK < 0 { throw bad("top_k must be >= 0 (0 = no limit); got \(o.topK)") }
    if o.hasTopP, !(o.topP > 0 && o.topP <= 1) { throw bad("top_p must be in (0, 1]; got \(o.topP)") }
    guard (0...20).contains(o.logprobs) else { throw bad("logprobs must be in 0...20; got \(o.logprobs)") }
    guard o.stop.count <= 16 else { throw bad("at most 16 stop strings; got \(o.stop.count)") }
    for s in o.stop where s.utf8.isEmpty || s.utf8.count > 256 {
      throw bad("each stop string must be 1...256 bytes; got one of \(s.utf8.count)")
    }
    if o.maxTokens == 0 { o.maxTokens = OptionDefaults.maxTokens }
    if !o.hasTemperature { o.temperature = OptionDefaults.temperature }
    if !o.hasTopK { o.topK = OptionDefaults.topK }
    if !o.hasTopP { o.topP = OptionDefaults.topP }
    if !o.hasSeed { o.seed = UInt64.random(in: .min ... .max) }
    return o
  }

  /// Checks a request against the model it names and resolves the decoder; `options`
  /// are the request's options after `validate`.
  func prepare(
    _ request: Zoo_V1_GenerateRequest, options validated: Zoo_V1_GenerateOptions, model: LoadedModel
  ) throws -> PreparedGeneration {
    let folder = model.folder
    var options = validated
    let decoderName = options.decoder.isEmpty ? folder.defaultDecoder : options.decoder
    guard let decoder = decoders[decoderName] else {
      throw ZooError.invalidArgument(
        "unknown decoder '\(decoderName.clipped())'; available: \(decoders.keys.sorted().joined(separator: ", "))")
    }
    let info = model.handle.info
    if decoder.kind.requires == .causal && !info.maskKinds.contains(.causal) {
      throw ZooError.failedPrecondition("decoder '\(decoderName)' needs a causal model; '\(folder.name)' is not")
    }
    options.decoder = decoderName
    let hasText = !request.prompt.isEmpty
    let hasIDs = !request.promptTokenIds.isEmpty
    guard hasText != hasIDs else {
      throw ZooError.invalidArgument(
        hasText ? "give either prompt or prompt_token_ids, not both" : "the prompt is empty: set prompt (text) or prompt_token_ids")
    }
    let tokenizer = try? model.tokenizer.get()
    var prompt = request.promptTokenIds
    if hasText {
      prompt = try model.tokenizer.get().encode(request.prompt)
      guard !prompt.isEmpty else { throw ZooError.invalidArgument("the prompt tokenizes to no tokens") }
    }
    if let bad = prompt.first(where: { $0 < 0 || Int($0) >= info.vocabularySize }) {
      throw ZooError.invalidArgument(
        "prompt token id \(bad) is outside the vocabulary of '\(folder.name)' (0..<\(info.vocabularySize))")
    }
    if info.maxPositions > 0 && prompt.count >= info.maxPositions {
      throw ZooError.invalidArgument(
        "the prompt has \(prompt.count) tokens; '\(folder.name)' supports at most \(info.maxPositions) positions")
    }
    return PreparedGeneration(
      prompt: prompt, decoder: decoderName, options: options, tokenizer: tokenizer, eosTokens: folder.eosTokens)
  }
}

/// Runs a decoder on its own thread (decoders block for the whole generation; the
/// async pool has only as many threads as cores) and turns each emitted token into a
/// response: text through the stop-string matcher, logprobs, token ids.
///
/// The handoff to the writer is bounded: at most `maxPending` events wait for the client,
/// then the decoder waits for it. A client that reads nothing for `stallTimeout` has its
/// generation stopped (`onStall`), so a stream nobody reads holds neither memory nor the
/// model's slot. The slot is freed when the decoder returns, not when the client has read
/// everything.
final class GenerationRun: @unchecked Sendable {
  let model: LoadedModel
  let prepared: PreparedGeneration
  let request: RequestContext
  /// The events, in order; finishes after the decoder has returned and freed its slot.
  let events: AsyncStream<GenerationEvent>
  private let continuation: AsyncStream<GenerationEvent>.Continuation
  private let flow = NSCondition()
  /// Events yielded and not yet taken by the writer (under `flow`).
  private var pending = 0
  private let stallTimeout: Duration
  private let onStall: @Sendable () -> Void
  private var stalled = false
  private var sawNaN = false
  private var _stallFailure: ZooError?
  static let maxPending = 64

  /// Why the run stopped for a client that stopped reading; nil otherwise.
  var stallFailure: ZooError? {
    get { flow.withLock { _stallFailure } }
    set { flow.withLock { _stallFailure = newValue } }
  }
  private var text: TextStream
  private var generated = 0
  private let started = ContinuousClock.now
  private var firstToken: ContinuousClock.Instant?
  private var lastToken: ContinuousClock.Instant?
  let queueSeconds: Double

  /// Starts the decoder thread on a slot already taken on `model`; the run frees it.
  /// `onStall` is called (on the decoder thread) when the client stopped reading.
  static func start(
    model: LoadedModel, prepared: PreparedGeneration, request: RequestContext, decoder: LoadedPlugin,
    queueSeconds: Double, stallTimeout: Duration, onStall: @escaping @Sendable () -> Void
  ) -> GenerationRun {
    let run = GenerationRun(
      model: model, prepared: prepared, request: request, queueSeconds: queueSeconds, stallTimeout: stallTimeout,
      onStall: onStall)
    let thread = Thread { run.main(decoder: decoder) }
    thread.name = "zoo-decode-\(model.folder.name)"
    thread.stackSize = 8 << 20
    thread.start()
    return run
  }

  private init(
    model: LoadedModel, prepared: PreparedGeneration, request: RequestContext, queueSeconds: Double,
    stallTimeout: Duration, onStall: @escaping @Sendable () -> Void
  ) {
    self.model = model
    self.prepared = prepared
    self.request = request
    // Unbounded here, bounded by `pending`: the decoder never yields past maxPending.
    (events, continuation) = AsyncStream.makeStream(of: GenerationEvent.self, bufferingPolicy: .unbounded)
    self.text = TextStream(stopStrings: prepared.options.stop)
    self.queueSeconds = queueSeconds
    self.stallTimeout = stallTimeout
    self.onStall = onStall
  }

  /// The writer took one event off `events` (wrote it or dropped it).
  func taken() {
    flow.lock()
    pending -= 1
    flow.signal()
    flow.unlock()
  }

  /// Hands a token to the writer, first waiting while `maxPending` events wait for the
  /// client. False when the request was cancelled or the client read nothing for
  /// `stallTimeout`: the decoder is then asked to stop.
  private func push(_ message: Zoo_V1_GenerateResponse) -> Bool {
    flow.lock()
    defer { flow.unlock() }
    let giveUp = Date().addingTimeInterval(stallTimeout.seconds)
    while pending >= Self.maxPending {
      if request.isCancelled { return false }
      // Woken by `taken`; the short wait also notices a cancel, which does not signal.
      _ = flow.wait(until: min(giveUp, Date().addingTimeInterval(0.1)))
      if pending >= Self.maxPending && Date() >= giveUp {
        stalled = true
        return false
      }
    }
    pending += 1
    continuation.yield(.token(message))
    return true
  }

  private func main(decoder: LoadedPlugin) {
    model.track(ObjectIdentifier(self), tokens: prepared.prompt.count)
    defer {
      model.track(ObjectIdentifier(self), tokens: nil)
      // The decoder has returned and freed its state: the slot is free now, whether or
      // not the client has read everything.
      model.releaseSlot()
      continuation.finish()
    }
    guard let api = decoder.decoderAPI(for: prepared.decoder) else {
      continuation.yield(.finished(.failure(.unavailable("decoder '\(prepared.decoder)' has no table"))))
      return
    }
    let optionBytes: [UInt8]
    do { optionBytes = try prepared.options.serializedBytes() } catch {
      continuation.yield(.finished(.failure(.internalError("cannot serialize options: \(error)"))))
      return
    }
    var finish: Int32 = ZOO_FINISH_UNSPECIFIED.rawValue.asInt32
    var err = zoo_error.empty
    let rc = prepared.decoder.withCString { name in
      prepared.prompt.withUnsafeBufferPointer { prompt in
        optionBytes.withUnsafeBufferPointer { opts in
          prepared.eosTokens.withUnsafeBufferPointer { eos in
            var args = zoo_decode_args()
            args.size = UInt32(MemoryLayout<zoo_decode_args>.size)
            args.decoder = name
            args.model_api = model.handle.api
            args.model = model.handle.model
            args.prompt = prompt.baseAddress
            args.n_prompt = Int64(prompt.count)
            args.options = opts.baseAddress
            args.options_len = opts.count
            args.eos_tokens = eos.baseAddress
            args.n_eos_tokens = Int32(eos.count)
            args.request = request.opaque
            args.host = UnsafePointer(decoder.host.table)
            args.emit_context = Unmanaged.passUnretained(self).toOpaque()
            args.emit = { context, event in
              guard let context, let event else { return 1 }
              return Unmanaged<GenerationRun>.fromOpaque(context).takeUnretainedValue().emit(event.pointee) ? 0 : 1
            }
            return api.pointee.run(&args, &finish, &err)
          }
        }
      }
    }
    if stalled {
      let seconds = Int(stallTimeout.seconds.rounded())
      let failure = ZooError.resourceExhausted(
        "the client read nothing for \(seconds) s, so zood stopped the generation after \(generated) tokens and freed the model for others (zood --stall-timeout)")
      stallFailure = failure
      continuation.yield(.finished(.failure(failure)))
      onStall()
      return
    }
    if sawNaN {
      continuation.yield(.finished(.failure(.failedPrecondition(
        "model '\(model.folder.name)' computed NaN logits: its weights are not finite numbers; check the checkpoint"))))
      return
    }
    if rc != 0 && !(rc == ZOO_ERR_CANCELLED.rawValue.asInt32) {
      continuation.yield(.finished(.failure(
        .fromPlugin(rc, PluginError(code: rc, from: err).message, context: "decoder '\(prepared.decoder)' failed"))))
      return
    }
    var reason: Zoo_V1_FinishReason =
      switch zoo_finish_reason(rawValue: UInt32(bitPattern: finish)) {
      case ZOO_FINISH_STOP: .stop
      case ZOO_FINISH_EOS: .eos
      case ZOO_FINISH_CANCELLED: .cancelled
      default: .length
      }
    // emit also asks to stop when the request is cancelled: report that as cancelled.
    if rc != 0 || (request.isCancelled && !text.stopped) { reason = .cancelled }
    let end = lastToken ?? .now
    let first = firstToken ?? end
    let stats = Zoo_V1_GenerateStats.with {
      $0.promptTokens = Int32(prepared.prompt.count)
      $0.generatedTokens = Int32(generated)
      $0.prefillSeconds = (first - started).seconds
      $0.decodeSeconds = (end - first).seconds
      $0.queueSeconds = queueSeconds
    }
    let tail = reason == .cancelled ? "" : text.finish()
    continuation.yield(.finished(.success(.with {
      $0.text = tail
      $0.done = true
      $0.finishReason = reason
      $0.stats = stats
    })))
  }

  /// Called on the decoder thread for every token; false asks the decoder to stop.
  private func emit(_ event: zoo_token_event) -> Bool {
    // Decoders that call the model's C table directly (not through ModelHandle, which
    // refuses NaN logits) still report the chosen token's logprob: NaN there means NaN
    // logits, and the token was picked from nothing.
    if event.logprob.isNaN {
      sawNaN = true
      return false
    }
    let now = ContinuousClock.now
    if firstToken == nil { firstToken = now }
    lastToken = now
    generated += 1
    model.track(ObjectIdentifier(self), tokens: prepared.prompt.count + generated)
    let tokenizer = prepared.tokenizer
    let released = tokenizer.map { text.append($0.bytes(of: event.token)) } ?? ""
    var message = Zoo_V1_GenerateResponse.with {
      $0.text = released
      $0.tokenIds = [event.token]
    }
    if prepared.options.logprobs > 0 {
      func entry(_ id: Int32, _ lp: Float) -> Zoo_V1_TokenLogprob {
        .with {
          $0.token = id
          $0.logprob = lp
          if let tokenizer { $0.text = String(decoding: tokenizer.bytes(of: id), as: UTF8.self) }
        }
      }
      message.logprobs = [.with {
        $0.chosen = entry(event.token, event.logprob)
        for i in 0..<Int(event.n_top) { $0.top.append(entry(event.top_tokens[i], event.top_logprobs[i])) }
      }]
    }
    return push(message) && !text.stopped && !request.isCancelled
  }
}

extension UInt32 {
  fileprivate var asInt32: Int32 { Int32(bitPattern: self) }
}

/// What one request may carry, checked before a model is even looked up: far above any
/// real prompt or batch, and below the transport's hard limit on a message
/// (`ConnectionLimits.maxMessageBytes`), so an oversized request gets a sentence naming
/// the limit rather than a reset stream.
enum RequestLimits {
  static let textBytes = 4 << 20
  static let promptTokens = 1 << 20
}

extension Runtime {
  static func checkSize(_ request: Zoo_V1_GenerateRequest) throws {
    let bytes = request.prompt.utf8.count
    guard bytes <= RequestLimits.textBytes else {
      throw ZooError.resourceExhausted(
        "the prompt is \(bytes) bytes; zood takes at most \(RequestLimits.textBytes) bytes (4 MiB) of prompt per request")
    }
    guard request.promptTokenIds.count <= RequestLimits.promptTokens else {
      throw ZooError.resourceExhausted(
        "prompt_token_ids has \(request.promptTokenIds.count) ids; zood takes at most \(RequestLimits.promptTokens) per request")
    }
  }

  static func checkSize(_ request: Zoo_V1_EmbedRequest) throws {
    let bytes = request.texts.reduce(0) { $0 + $1.utf8.count }
    guard bytes <= RequestLimits.textBytes else {
      throw ZooError.resourceExhausted(
        "the texts are \(bytes) bytes in all; zood takes at most \(RequestLimits.textBytes) bytes (4 MiB) per Embed request: split the batch")
    }
  }
}
