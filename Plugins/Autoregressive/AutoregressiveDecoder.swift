import CZooPlugin
import ZooCore
import ZooPluginKit
import ZooProto

/// `ar`: left-to-right sampling. Prefill the prompt in one forward call (logits of the
/// last row only), then one token per step: sample, report, feed it back.
/// Sampling is ZooCore's `Sampler` (greedy at temperature 0, else temperature with
/// top-k and top-p, reproducible with a seed).
enum AutoregressiveDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "ar"
    $0.description_p =
      "Autoregressive sampling: one token per step from a causal model; greedy at temperature 0, "
      + "else temperature, top-k and top-p; reproducible with a seed."
    $0.requires = .causal
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let model = session.model
    guard model.info.maskKinds.contains(.causal) else {
      throw PluginError.failedPrecondition("decoder 'ar' needs a causal model; this one is bidirectional only")
    }
    let options = session.options
    let maxTokens = Int(options.maxTokens)
    let vocabulary = model.info.vocabularySize
    let maxPositions = model.info.maxPositions
    var sampler = Sampler(
      options: SamplingOptions(
        temperature: options.temperature, topK: Int(options.topK), topP: options.topP, seed: options.seed))
    let topCount = Int(options.logprobs)
    var logits = [Float](repeating: 0, count: vocabulary)
    let state = try model.makeState()

    // Prefill: only the last prompt position's logits are needed.
    do {
      let lastRow = [Int64(session.prompt.count - 1)]
      try session.prompt.withUnsafeBufferPointer { prompt in
        try lastRow.withUnsafeBufferPointer { rows in
          try logits.withUnsafeMutableBufferPointer { out in
            try model.forward(prompt, state: state, logitRows: rows, logits: out.baseAddress, request: session.request)
          }
        }
      }
    } catch let e as PluginError where e.code == ZOO_ERR_CANCELLED {
      return .cancelled
    }

    var token: [Int32] = [0]
    for step in 0..<maxTokens {
      if session.isCancelled { return .cancelled }
      let chosen = logits.withUnsafeBufferPointer { sampler.sample($0) }
      if session.eosTokens.contains(chosen) { return .eos }
      var logprob: Float = 0
      var top: [(id: Int32, logprob: Float)] = []
      if topCount > 0 {
        logits.withUnsafeBufferPointer { l in
          let lp = LogProbabilities(l)
          logprob = lp.logprob(l[Int(chosen)])
          top = lp.top(topCount, of: l)
        }
      }
      guard session.emit(token: chosen, logprob: logprob, top: top) else { return .stop }
      if step == maxTokens - 1 { break }
      if maxPositions > 0 && state.length >= maxPositions { break }
      token[0] = chosen
      try token.withUnsafeBufferPointer { t in
        try logits.withUnsafeMutableBufferPointer { out in
          try model.forward(t, state: state, logits: out.baseAddress, request: session.request)
        }
      }
    }
    return .length
  }
}
