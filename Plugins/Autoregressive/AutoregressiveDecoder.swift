import ZooPluginKit
import ZooProto

/// `ar`: left-to-right sampling. Prefill the prompt in one forward call (logits of the
/// last row only), then one token per step: sample, report, feed it back. Sampling is
/// ZooCore's `Sampler` (greedy at temperature 0, else temperature with top-k and top-p,
/// reproducible with a seed). zood has checked that the model is causal, and ends the
/// request at a stop string, an end-of-sequence token or max_tokens: `emit` then
/// returns false.
enum AutoregressiveDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "ar"
    $0.description_p =
      "Autoregressive sampling: one token per step from a causal model; greedy at temperature 0, "
      + "else temperature, top-k and top-p; reproducible with a seed."
    $0.requires = .causal
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let maxPositions = session.model.info.maxPositions
    var sampler = session.makeSampler()
    let state = try session.model.makeState()
    var logits = try session.prefill(state)
    while true {
      try session.checkCancelled()
      let token = sampler.next(logits)
      guard session.emit(token) else { return .stop }
      if maxPositions > 0 && state.length >= maxPositions { return .length }
      try session.step(token.id, state: state, logits: &logits)
    }
  }
}
