import CZooPlugin
import Foundation
import Synchronization
import ZooABI
import ZooCore
import ZooProto

/// One event of a running generation, produced on the decoder's thread.
enum GenerationEvent: Sendable {
  /// Committed text, token ids, logprobs and steps since the previous message.
  case progress(Zoo_V1_GenerateResponse)
  /// The decoder returned: the final message, or the error that ended it.
  case finished(Result<Zoo_V1_GenerateResponse, ZooError>)
}

/// Runs a decoder on its own thread (decoders block for the whole generation; the async
/// pool has only as many threads as cores) and turns its events into responses through
/// `GeneratedSequence`.
///
/// The handoff to the writer is bounded: at most `maxPending` events wait for the client,
/// then the decoder waits for it. A client that reads nothing for `stallTimeout` has its
/// generation stopped (`onStall`), so a stream nobody reads holds neither memory nor the
/// model's slot. The slot is freed when the decoder returns, not when the client has read
/// everything. Per token, nothing takes a lock: counters are atomics, and the decoder
/// waits on `flow` only while the writer is `maxPending` events behind.
final class GenerationRun: @unchecked Sendable {
  let model: LoadedModel
  let prepared: PreparedGeneration
  let request: RequestContext
  /// The events, in order; finishes after the decoder has returned and freed its slot.
  let events: AsyncStream<GenerationEvent>
  private let continuation: AsyncStream<GenerationEvent>.Continuation
  static let maxPending = 64
  /// Events yielded and not yet taken by the writer.
  private let pending = Atomic<Int>(0)
  /// Wakes a decoder waiting for the writer; taken only while it is `maxPending` behind.
  private let flow = NSCondition()
  private let stallTimeout: Duration
  private let onStall: @Sendable () -> Void
  private let endedByDeadline: @Sendable () -> Bool
  private let stallFailure = Mutex<ZooError?>(nil)

  // Decoder-thread state.
  private var sequence: GeneratedSequence
  private var violation: GeneratedSequence.ContractViolation?
  private var stalled = false
  private let counting: CountingModel
  private let activity = Scheduler.Activity()
  private let started = ContinuousClock.now
  private var firstEvent: ContinuousClock.Instant?
  private var lastEvent: ContinuousClock.Instant?
  let queueSeconds: Double

  /// Why the run stopped for a client that stopped reading; nil otherwise.
  var stall: ZooError? { stallFailure.withLock { $0 } }

  /// Starts the decoder thread on a slot already taken on `model`; the run frees it.
  /// `onStall` is called (on the decoder thread) when the client stopped reading;
  /// `endedByDeadline` says whether a cancel was the client's deadline.
  static func start(
    model: LoadedModel, prepared: PreparedGeneration, request: RequestContext, queueSeconds: Double,
    stallTimeout: Duration, onStall: @escaping @Sendable () -> Void, endedByDeadline: @escaping @Sendable () -> Bool
  ) -> GenerationRun {
    let run = GenerationRun(
      model: model, prepared: prepared, request: request, queueSeconds: queueSeconds, stallTimeout: stallTimeout,
      onStall: onStall, endedByDeadline: endedByDeadline)
    let thread = Thread { run.main() }
    thread.name = "zoo-decode-\(model.folder.name)"
    thread.stackSize = 8 << 20
    thread.start()
    return run
  }

  private init(
    model: LoadedModel, prepared: PreparedGeneration, request: RequestContext, queueSeconds: Double,
    stallTimeout: Duration, onStall: @escaping @Sendable () -> Void, endedByDeadline: @escaping @Sendable () -> Bool
  ) {
    self.model = model
    self.prepared = prepared
    self.request = request
    // Unbounded here, bounded by `pending`: the decoder never yields past maxPending.
    (events, continuation) = AsyncStream.makeStream(of: GenerationEvent.self, bufferingPolicy: .unbounded)
    sequence = GeneratedSequence(
      options: prepared.options, eos: prepared.eosTokens, tokenizer: prepared.tokenizer,
      template: prepared.gaps == nil ? [] : prepared.prompt)
    counting = CountingModel(model.handle, batcher: model.batcher)
    self.queueSeconds = queueSeconds
    self.stallTimeout = stallTimeout
    self.onStall = onStall
    self.endedByDeadline = endedByDeadline
  }

  /// The writer took one event off `events` (wrote it or dropped it).
  func taken() {
    if pending.subtract(1, ordering: .acquiringAndReleasing).oldValue >= Self.maxPending {
      flow.lock()
      flow.signal()
      flow.unlock()
    }
  }

  /// Hands a message to the writer, first waiting while `maxPending` events wait for
  /// the client. False when the request was cancelled or the client read nothing for
  /// `stallTimeout`: the decoder is then asked to stop.
  private func push(_ message: Zoo_V1_GenerateResponse) -> Bool {
    if pending.load(ordering: .acquiring) >= Self.maxPending {
      let giveUp = Date().addingTimeInterval(stallTimeout.seconds)
      flow.lock()
      defer { flow.unlock() }
      while pending.load(ordering: .acquiring) >= Self.maxPending {
        if request.isCancelled { return false }
        // Woken by `taken`; the short wait also notices a cancel, which does not signal.
        _ = flow.wait(until: min(giveUp, Date().addingTimeInterval(0.1)))
        if pending.load(ordering: .acquiring) >= Self.maxPending && Date() >= giveUp {
          stalled = true
          return false
        }
      }
    }
    pending.add(1, ordering: .acquiringAndReleasing)
    continuation.yield(.progress(message))
    return true
  }

  private func main() {
    model.scheduler.started(ObjectIdentifier(self), activity)
    activity.tokens.store(prepared.prompt.count, ordering: .relaxed)
    defer {
      model.scheduler.finished(ObjectIdentifier(self))
      // The decoder has returned and freed its state: the slot is free now, whether or
      // not the client has read everything.
      model.scheduler.release()
      continuation.finish()
    }
    if prepared.gaps != nil && prepared.options.reportSteps {
      // A template's own tokens first, so a client can draw the text the insertions go into.
      _ = push(.with {
        $0.steps = prepared.prompt.enumerated().map { position, token in
          .with {
            $0.op = .set
            $0.position = Int64(position)
            $0.token = token
            $0.text = tokenText(token)
          }
        }
      })
    }
    let result = DecoderCall.run(prepared, model: counting, request: request) { emit($0) }
    counting.decoderReturned()
    var tail = Zoo_V1_GenerateResponse()
    // A decoder that returned ZOO_OK has committed everything it placed.
    if result.status == 0 && violation == nil && !stalled && sequence.ending == nil && !request.isCancelled {
      do { tail = message(from: try sequence.commitAll(), steps: []) } catch let v as GeneratedSequence.ContractViolation {
        violation = v
      } catch {}
    }
    if stalled {
      let seconds = Int(stallTimeout.seconds.rounded())
      stallFailure.withLock {
        $0 = .resourceExhausted(
          "the client read nothing for \(seconds) s, so zood stopped the generation after \(sequence.generatedTokens) tokens and freed the model for others (zood --stall-timeout)")
      }
      onStall()
    }
    let outcome = GenerationOutcome.decide(.init(
      decoder: prepared.decoder.name, status: result.status, decoderReason: result.reason,
      decoderError: result.error, stall: stall, violation: violation, ending: sequence.ending,
      cancelled: request.isCancelled, endedByDeadline: endedByDeadline(), generated: sequence.generatedTokens))
    switch outcome {
    case .failed(let error):
      continuation.yield(.finished(.failure(error)))
    case .finished(let reason):
      let end = lastEvent ?? .now
      let first = firstEvent ?? end
      if reason != .cancelled { tail.text += sequence.finishText() }
      tail.done = true
      tail.finishReason = reason
      tail.stats = .with {
        $0.promptTokens = Int32(prepared.prompt.count)
        $0.generatedTokens = Int32(sequence.generatedTokens)
        $0.prefillSeconds = (first - started).seconds
        $0.decodeSeconds = (end - first).seconds
        $0.queueSeconds = queueSeconds
        $0.forwardPasses = Int32(counting.forwardPasses.load(ordering: .relaxed))
      }
      continuation.yield(.finished(.success(tail)))
    }
  }

  /// Called on the decoder thread for every event; false asks the decoder to stop.
  private func emit(_ pointer: UnsafePointer<zoo_token_event>) -> Bool {
    let event = DecoderCall.Event(pointer)
    let now = ContinuousClock.now
    if firstEvent == nil { firstEvent = now }
    lastEvent = now
    let release: GeneratedSequence.Release
    do {
      try sequence.place(
        event.op, position: event.position, token: event.token,
        logprobs: prepared.options.logprobs > 0 ? logprobs(event) : nil)
      release = try event.committed.map { try sequence.commit(upTo: $0) } ?? sequence.commitAll()
    } catch let v as GeneratedSequence.ContractViolation {
      violation = v
      return false
    } catch {
      return false
    }
    activity.tokens.store(prepared.prompt.count + sequence.committed, ordering: .relaxed)
    var steps: [Zoo_V1_TokenStep] = []
    if prepared.options.reportSteps {
      steps = [.with {
        $0.op = Zoo_V1_TokenStep.Op(rawValue: Int(event.op.rawValue)) ?? .append
        $0.position = Int64(event.op == ZOO_TOKEN_APPEND ? sequence.committed - 1 : event.position)
        $0.token = event.token
        $0.text = tokenText(event.token)
        $0.committed = Int64(sequence.committed)
      }]
    }
    let delivered = release.tokenIDs.isEmpty && steps.isEmpty ? true : push(message(from: release, steps: steps))
    return delivered && sequence.ending == nil && !request.isCancelled
  }

  private func message(from release: GeneratedSequence.Release, steps: [Zoo_V1_TokenStep]) -> Zoo_V1_GenerateResponse {
    .with {
      $0.text = release.text
      $0.tokenIds = release.tokenIDs
      $0.logprobs = release.logprobs
      $0.steps = steps
    }
  }

  private func tokenText(_ id: Int32) -> String {
    prepared.tokenizer.map { String(decoding: $0.bytes(of: id), as: UTF8.self) } ?? ""
  }

  private func logprobs(_ event: DecoderCall.Event) -> Zoo_V1_TokenLogprobs {
    func entry(_ id: Int32, _ lp: Float) -> Zoo_V1_TokenLogprob {
      .with {
        $0.token = id
        $0.logprob = lp
        $0.text = tokenText(id)
      }
    }
    return .with {
      $0.chosen = entry(event.token, event.logprob)
      $0.top = event.top.map { entry($0.id, $0.logprob) }
    }
  }
}
