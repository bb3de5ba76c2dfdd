import CZooPlugin
import Foundation
import Synchronization
import ZooABI
import ZooProto

/// The C side of running a decoder: zoo_decode_args built from a prepared request, the
/// model table a decoder drives (zood's, counting forward calls), and each
/// zoo_token_event read into Swift. Nothing here decides anything about the request.
enum DecoderCall {
  /// A token event as zood reads it: events of plugins built before ABI 1.2 end before
  /// `op`, and each appends its token and commits everything.
  struct Event {
    var op: zoo_token_op
    var position: Int
    var token: Int32
    /// nil = everything placed so far (ABI 1.0 and 1.1 events).
    var committed: Int?
    var logprob: Float
    var top: [(id: Int32, logprob: Float)]

    init(_ p: UnsafePointer<zoo_token_event>) {
      let e = p.pointee
      token = e.token
      logprob = e.logprob
      top = (0..<Int(max(0, e.n_top))).compactMap { i in
        guard let ids = e.top_tokens, let lps = e.top_logprobs else { return nil }
        return (ids[i], lps[i])
      }
      if zoo_token_event_has_placement(p) != 0 {
        op = zoo_token_op(rawValue: UInt32(bitPattern: e.op))
        position = Int(e.position)
        committed = Int(e.committed)
      } else {
        op = ZOO_TOKEN_APPEND
        position = 0
        committed = nil
      }
    }
  }

  /// Runs `prepared`'s decoder on `model` on the calling thread, handing each event to
  /// `emit` (false stops the decoder). Returns the status and the decoder's reason.
  static func run(
    _ prepared: PreparedGeneration, model: CountingModel, request: RequestContext,
    emit: (UnsafePointer<zoo_token_event>) -> Bool
  ) -> (status: Int32, reason: zoo_finish_reason, error: zoo_error) {
    let optionBytes: [UInt8]
    do { optionBytes = try prepared.options.serializedBytes() } catch {
      var err = zoo_error.empty
      return (PluginError.internalError("cannot serialize options: \(error)").write(to: &err), ZOO_FINISH_UNSPECIFIED, err)
    }
    var finish = Int32(ZOO_FINISH_UNSPECIFIED.rawValue)
    var err = zoo_error.empty
    let rc = withoutActuallyEscaping(emit) { emit in
      var emitter = emit
      return withUnsafeMutablePointer(to: &emitter) { emitContext in
        prepared.decoder.name.withCString { name in
          prepared.prompt.withUnsafeBufferPointer { prompt in
            optionBytes.withUnsafeBufferPointer { opts in
              prepared.eosTokens.withUnsafeBufferPointer { eos in
                (prepared.gaps ?? []).withUnsafeBufferPointer { gaps in
                  var args = zoo_decode_args()
                  args.size = UInt32(MemoryLayout<zoo_decode_args>.size)
                  args.decoder = name
                  args.model_api = UnsafePointer(CountingModel.table)
                  args.model = model.opaque
                  args.prompt = prompt.baseAddress
                  args.n_prompt = Int64(prompt.count)
                  args.options = opts.baseAddress
                  args.options_len = opts.count
                  args.eos_tokens = eos.baseAddress
                  args.n_eos_tokens = Int32(eos.count)
                  args.request = request.opaque
                  args.host = UnsafePointer(prepared.decoder.plugin.host.table)
                  args.emit_context = UnsafeMutableRawPointer(emitContext)
                  args.emit = { context, event in
                    guard let context, let event else { return 1 }
                    let emit = context.assumingMemoryBound(to: ((UnsafePointer<zoo_token_event>) -> Bool).self).pointee
                    return emit(event) ? 0 : 1
                  }
                  args.gaps = prepared.gaps == nil ? nil : gaps.baseAddress
                  return prepared.decoder.api.pointee.run(&args, &finish, &err)
                }
              }
            }
          }
        }
      }
    }
    return (rc, zoo_finish_reason(rawValue: UInt32(bitPattern: finish)), err)
  }
}

/// The model table decoders get: zood's own, in front of the plugin's, so zood counts
/// every forward call (GenerateStats.forward_passes), refuses NaN logits for every
/// decoder alike, and hands decode steps to the model's `StepBatcher` when it has one.
/// One per request; `opaque` is the zoo_model pointer decoders pass back.
final class CountingModel: @unchecked Sendable {
  let target: ModelHandle
  let batcher: StepBatcher?
  let forwardPasses = Atomic<Int>(0)

  init(_ target: ModelHandle, batcher: StepBatcher? = nil) {
    self.target = target
    self.batcher = batcher
  }

  /// The decoder has returned: batches no longer wait for this request.
  func decoderReturned() { batcher?.leave(ObjectIdentifier(self)) }

  /// Valid while `self` is alive (the run holds it until the decoder returns).
  var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

  private static func of(_ p: OpaquePointer?) -> CountingModel {
    Unmanaged<CountingModel>.fromOpaque(UnsafeRawPointer(p!)).takeUnretainedValue()
  }

  private static func refuse(_ err: UnsafeMutablePointer<zoo_error>?, _ m: String) -> Int32 {
    PluginError.failedPrecondition(m).write(to: err)
  }

  /// One table for every request, written once; the per-request part is the handle.
  nonisolated(unsafe) static let table: UnsafeMutablePointer<zoo_model_api> = {
    let t = UnsafeMutablePointer<zoo_model_api>.allocate(capacity: 1)
    t.initialize(to: zoo_model_api(
      size: UInt32(MemoryLayout<zoo_model_api>.size),
      load: { _, _, err in refuse(err, "a decoder cannot load models") },
      unload: { _ in },
      describe: { m, info in
        let t = of(m).target
        return t.api.pointee.describe(t.model, info)
      },
      state_new: { m, out, err in
        let t = of(m).target
        return t.api.pointee.state_new(t.model, out, err)
      },
      state_free: { m, s in
        let t = of(m).target
        t.api.pointee.state_free(t.model, s)
      },
      state_length: { m, s in
        let t = of(m).target
        return t.api.pointee.state_length(t.model, s)
      },
      state_copy: { m, s, out, err in
        let t = of(m).target
        guard let copy = t.api.pointee.state_copy else { return refuse(err, "this model's state cannot be copied") }
        return copy(t.model, s, out, err)
      },
      state_truncate: { m, s, length, err in
        let t = of(m).target
        guard let truncate = t.api.pointee.state_truncate else {
          return refuse(err, "this model's state cannot be truncated")
        }
        return truncate(t.model, s, length, err)
      },
      forward: { m, s, args, err in
        let counting = of(m)
        let t = counting.target
        counting.forwardPasses.add(1, ordering: .relaxed)
        let rc: Int32
        if let batcher = counting.batcher, let s, let args {
          if StepBatcher.isDecodeStep(args) {
            rc = batcher.step(ObjectIdentifier(counting), state: s, args: args, error: err)
          } else {
            batcher.leave(ObjectIdentifier(counting))
            rc = t.api.pointee.forward(t.model, s, args, err)
          }
        } else {
          rc = t.api.pointee.forward(t.model, s, args, err)
        }
        // A NaN logit is never a prediction: it comes from NaN (or overflowing) weights,
        // and sampling would turn it into a constant token stream that looks like output.
        if rc == 0, let args, let logits = args.pointee.logits,
          UnsafeBufferPointer(start: logits, count: Int(args.pointee.n_logit_rows) * t.info.vocabularySize)
            .contains(where: \.isNaN)
        {
          return refuse(
            err, "the model computed NaN logits: its weights (or what they overflow to) are not finite numbers; check the checkpoint")
        }
        return rc
      },
      embed: { m, args, err in
        let t = of(m).target
        guard zoo_model_api_has_embed(t.api) != 0, let embed = t.api.pointee.embed else {
          return refuse(err, "this model does not produce embeddings")
        }
        return embed(t.model, args, err)
      },
      // Decoders step each sequence through `forward`; zood batches the steps.
      forward_batch: nil))
    return t
  }()
}
