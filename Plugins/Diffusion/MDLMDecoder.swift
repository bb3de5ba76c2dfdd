import Foundation
import ZooCore
import ZooPluginKit
import ZooProto

/// `mdlm`: MDLM's ancestral sampler (Sahoo et al. 2024, arXiv 2406.07524;
/// kuleshov-group/mdlm @ c112c52 diffusion.py `_sample`, `_ddpm_caching_update`) with the
/// log-linear schedule: the chance that a token is still masked at time t is
/// m(t) = (1 − ε)·t. Over `steps` steps from t = 1 down to ε, a masked position is
/// revealed between t and s = t − (1 − ε)/steps with probability (m(t) − m(s)) / m(t),
/// taking a token from the model's distribution with the mask token excluded (the SUBS
/// parameterisation); revealed tokens stay. When a step reveals nothing the canvas is
/// unchanged and, as the model has no time input, the next step reuses the same
/// distribution without a forward call (`ddpm_cache`). A final forward fills whatever
/// is still masked with its argmax (noise removal).
///
/// The order is random by nature: a seeded generator draws it (the request's seed; at
/// temperature 0 a fixed seed, so temperature 0 is deterministic) and tokens are the
/// argmax at temperature 0, else sampled from softmax(logits / T).
enum MDLMDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "mdlm"
    $0.description_p =
      "MDLM ancestral sampling: random-order unmasking on the log-linear schedule, reusing the model's output while "
      + "a step reveals nothing (kuleshov-group/mdlm diffusion.py, ddpm_cache)."
    $0.requires = .bidirectional
    $0.requiresMaskToken = true
    $0.options = [
      .field("steps", .int, "0", "Sampling steps from t = 1 to eps; 0 means max_tokens.", minimum: 0, maximum: 65536),
      .field("eps", .float, "1e-05", "The schedule's final time (MDLM's sampling eps).", minimum: 0, maximum: 0.5),
    ]
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    var canvas = try Canvas(session)
    let denoiser = try Denoiser(session)
    let requested = try session.intOption("steps")
    let steps = requested == 0 ? canvas.generation.count : requested
    let eps = try session.floatOption("eps")
    let temperature = Double(session.options.temperature)
    var order = Xoshiro256(seed: temperature > 0 ? session.options.seed : 0)
    var sampler = Predictor(temperature: temperature, excluded: [canvas.mask], seed: session.options.seed &+ 1)
    let dt = (1 - eps) / Double(steps)
    var cached: PositionLogits?

    for k in 0..<steps {
      if canvas.isComplete { break }
      try session.checkCancelled()
      let t = 1 - Double(k) * dt
      let (mt, ms) = ((1 - eps) * t, (1 - eps) * (t - dt))
      let masked = canvas.masked(in: canvas.generation)
      let logits = try cached ?? denoiser.full(canvas.tokens, logitsFor: masked)
      var picks: [(position: Int, token: Int32)] = []
      for p in masked where order.openUnit() < (mt - ms) / mt {
        picks.append((p, sampler.predict(logits.row(p), at: p).token))
      }
      // Unchanged canvas: the same output again (no time conditioning).
      cached = picks.isEmpty ? logits : nil
      guard canvas.commit(picks, session: session) else { return .stop }
    }
    let masked = canvas.masked(in: canvas.generation)
    if !masked.isEmpty {
      try session.checkCancelled()
      let logits = try denoiser.full(canvas.tokens, logitsFor: masked)
      var argmax = Predictor(temperature: 0, excluded: [canvas.mask], seed: 0)
      guard canvas.commit(masked.map { ($0, argmax.predict(logits.row($0), at: $0).token) }, session: session) else {
        return .stop
      }
    }
    return .length
  }
}
