import ZooPluginKit
import ZooProto

/// `window-diffusion`: Window-Diffusion's pruned decoding (Zuo et al. 2026, arXiv
/// 2601.20332; vhicrgit/Window-Diffusion @ d8bb349 llada/model/modeling_llada.py
/// `generate`, `build_window_plan`, `update_window_plan`, `block_forward_prune`).
///
/// LLaDA's low-confidence decoding over the whole generation without blocks: `steps`
/// steps, step i committing k_i of the masks (max_tokens spread evenly, the remainder to
/// the first steps). Steps come in phases of `refresh_cycle`:
/// - A phase starts with a full forward (every key and value rewritten) that commits the
///   k_i most confident masks anywhere. Then it fixes the window, the positions the
///   phase's other steps attend to: every decided position (prompt included) and the
///   first `window_tokens` masks; masks beyond are pruned (the far field).
/// - Its other steps run only the active tokens, the first `active_tokens` masks and
///   the tokens committed during the phase, writing their keys and values into the
///   cache and attending to the window's positions only (ABI 1.3 key positions); they
///   commit the k_i most confident of the active masks.
enum WindowDiffusionDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "window-diffusion"
    $0.description_p =
      "Window-Diffusion: low-confidence decoding where, between full refreshes every refresh_cycle steps, only the "
      + "active tokens are recomputed, attending to a window of decided tokens and near masks (vhicrgit/Window-Diffusion)."
    $0.requires = .bidirectional
    $0.requiresMaskToken = true
    $0.options = [
      .field("steps", .int, "0", "Steps over the whole generation (one forward each); 0 means max_tokens (one token per step).", minimum: 0, maximum: 65536),
      .field("window_tokens", .int, "64", "Masks in the window besides the decided tokens: what a phase's pruned steps attend to.", minimum: 1, maximum: 65536),
      .field("active_tokens", .int, "16", "Leading masks recomputed at each pruned step (with the tokens committed in the phase).", minimum: 1, maximum: 65536),
      .field("refresh_cycle", .int, "32", "Steps per phase: a full forward starts each.", minimum: 1, maximum: 65536),
    ]
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    guard session.model.info.acceptsKeyPositions else {
      throw PluginError.failedPrecondition(
        "window-diffusion needs a model whose forward takes key positions (zoo ABI 1.3), and this one does not")
    }
    let windowMasks = try session.intOption("window_tokens")
    let activeMasks = try session.intOption("active_tokens")
    let refreshCycle = try session.intOption("refresh_cycle")
    var canvas = try Canvas(session)
    let requested = try session.intOption("steps")
    let schedule = transferSchedule(masked: canvas.generation.count, steps: requested == 0 ? canvas.generation.count : requested)
    // A pruned step commits among the active masks only: fewer than a step's share would
    // leave masks at the end (the official code then overwrites committed tokens).
    if let most = schedule.first, most > activeMasks {
      throw PluginError.invalidArgument(
        "decoder option 'active_tokens' (\(activeMasks)) is below the \(most) tokens a step commits (max_tokens / steps); raise active_tokens or steps")
    }
    var predictor = Predictor(
      temperature: Double(session.options.temperature), neverPicked: [canvas.mask], seed: session.options.seed)
    let denoiser = try Denoiser(session)
    var window: [Int] = []
    var active: [Int] = []
    var committedInPhase: [Int] = []

    for (step, count) in schedule.enumerated() {
      if canvas.isComplete { break }  // only when steps > max_tokens
      try session.checkCancelled()
      let picks: [Prediction]
      if step % refreshCycle == 0 {
        let masked = canvas.masked(in: canvas.generation)
        let logits = try denoiser.full(canvas.tokens, logitsFor: masked)
        picks = masked.map { predictor.predict(logits.row($0), at: $0) }.mostConfident(count)
      } else {
        let candidates = active.filter(canvas.isMasked)
        let logits = try denoiser.forward(canvas.tokens, positions: active, keys: window, logitsFor: candidates)
        picks = candidates.map { predictor.predict(logits.row($0), at: $0) }.mostConfident(count)
      }
      guard canvas.commit(picks.map { ($0.position, $0.token) }, session: session) else { return .stop }
      if step % refreshCycle == 0 {
        window = Set(canvas.firstMasked(windowMasks) + (0..<canvas.count).filter { !canvas.isMasked($0) }).sorted()
        committedInPhase = []
        active = Set(canvas.firstMasked(activeMasks) + picks.map(\.position)).sorted()
      } else {
        committedInPhase += picks.map(\.position)
        active = Set(canvas.firstMasked(activeMasks) + committedInPhase).sorted()
      }
    }
    return .length
  }
}
