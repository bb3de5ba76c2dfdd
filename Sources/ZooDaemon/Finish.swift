import CZooPlugin
import ZooABI
import ZooProto

/// How a generation ended, decided in one place from everything that could end it.
enum GenerationOutcome {
  case finished(Zoo_V1_FinishReason)
  case failed(ZooError)

  /// What ended a run, in the order that decides: a client that stopped reading, a
  /// decoder that broke the contract, what the committed text reached (stop string,
  /// EOS, max_tokens), a decoder error, a cancel (a deadline when the client had one),
  /// and last the decoder's own reason.
  struct Facts {
    var decoder: String
    var status: Int32
    var decoderReason: zoo_finish_reason
    var decoderError: zoo_error
    var stall: ZooError?
    var violation: GeneratedSequence.ContractViolation?
    var ending: GeneratedSequence.Ending?
    var cancelled: Bool
    var endedByDeadline: Bool
    var generated: Int
  }

  static func decide(_ f: Facts) -> GenerationOutcome {
    if let stall = f.stall { return .failed(stall) }
    if let v = f.violation {
      return .failed(.internalError("decoder '\(f.decoder)' broke the decoder contract (zoo_plugin.h): it \(v.message)"))
    }
    switch f.ending {
    case .stopString: return .finished(.stop)
    case .eos: return .finished(.eos)
    case .maxTokens: return .finished(.length)
    case nil: break
    }
    let cancelled = f.cancelled || f.status == Int32(ZOO_ERR_CANCELLED.rawValue)
    if f.status != 0 && !cancelled {
      return .failed(.fromPlugin(f.status, PluginError(code: f.status, from: f.decoderError).message, context: "decoder '\(f.decoder)' failed"))
    }
    if cancelled {
      return f.endedByDeadline
        ? .failed(.deadlineExceeded("timed out: the client's deadline passed after \(f.generated) generated tokens"))
        : .finished(.cancelled)
    }
    switch f.decoderReason {
    case ZOO_FINISH_EOS: return .finished(.eos)
    case ZOO_FINISH_STOP: return .finished(.stop)
    default: return .finished(.length)
    }
  }
}
