import ZooPluginKit
import ZooProto

/// `dcd`: Deferred Commitment Decoding (Shu et al. 2026, arXiv 2601.02076;
/// shuyingte/DCD @ ea6a4b7 decode_algorithm.py `window_bidirectional_decode`, sliding
/// window).
///
/// Instead of fixed blocks, a window [l, r) slides over the generation holding about
/// `s_init` masks. A step predicts the window's masks and commits those whose confidence
/// reaches `threshold` (the most confident always), so an uncertain token waits until
/// more of its right context is decided. Then l moves past the decided tokens and
/// r = min(r + s_init − masks in the window, l + s_max, first EOS). When an EOS is
/// committed, every mask after it becomes EOS padding. The mask token is never
/// predicted.
///
/// Caches (`cache`): `none` runs the whole canvas every step. The others run the whole
/// canvas once `refresh_count` tokens were decided since the last full forward (and at
/// the first step); between refreshes they re-run [l, end) (`prefix`), [l, r) (`dual`),
/// or those ranges widened by W positions on each side (`prefix-delayW`,
/// `dual-delayW`: from the previous step's l − W), reusing the other positions' keys
/// and values.
enum DCDDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "dcd"
    $0.description_p =
      "Deferred commitment decoding: a sliding window of about s_init masks, committing only confident tokens "
      + "(threshold), with optional prefix/dual key-value caches refreshed every refresh_count tokens (shuyingte/DCD)."
    $0.requires = .bidirectional
    $0.requiresMaskToken = true
    $0.options = [
      .field("s_init", .int, "32", "Masks the window holds (its initial length).", minimum: 1, maximum: 65536),
      .field("s_max", .int, "0", "Longest window; 0 means no limit.", minimum: 0, maximum: 65536),
      .field("threshold", .float, "0.9", "Commit every prediction in the window whose confidence is at least this (the most confident is always committed).", minimum: 0),
      .field("cache", .string, "\"none\"", "Key/value reuse between refreshes: none, prefix, dual, prefix-delayW or dual-delayW (W a number of positions, e.g. dual-delay2)."),
      .field("refresh_count", .int, "16", "With a cache: run the whole canvas again once this many tokens were decided since the last full forward.", minimum: 1, maximum: 65536),
    ]
  }

  /// The positions a step re-runs between refreshes: from l (no delay) or from the
  /// previous step's l − W, to the end (`prefix`) or to r (+ W) (`dual`).
  enum CacheMode {
    case none, prefix(delay: Int?), dual(delay: Int?)

    init(_ text: String) throws {
      func delay(_ head: String) -> Int?? {
        if text == head { return .some(nil) }
        let prefix = head + "-delay"
        guard text.hasPrefix(prefix), let w = Int(text.dropFirst(prefix.count)), (0...65536).contains(w) else { return nil }
        return .some(w)
      }
      if text == "none" {
        self = .none
      } else if let w = delay("prefix") {
        self = .prefix(delay: w)
      } else if let w = delay("dual") {
        self = .dual(delay: w)
      } else {
        throw PluginError.invalidArgument(
          "decoder option 'cache' is \"\(text)\"; use none, prefix, dual, prefix-delayW or dual-delayW with W a whole number up to 65536 (e.g. dual-delay2)")
      }
    }
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let windowMasks = try session.intOption("s_init")
    let longest = try session.intOption("s_max")
    let threshold = try session.floatOption("threshold")
    let cache = try CacheMode(try session.option("cache"))
    let refreshCount = try session.intOption("refresh_count")
    var canvas = try Canvas(session)
    // DCD's LLaDA wrapper sets the mask token's logit to −∞.
    var predictor = Predictor(
      temperature: Double(session.options.temperature), excluded: [canvas.mask], seed: session.options.seed)
    let denoiser = try Denoiser(session)
    let start = canvas.promptLength
    let end = canvas.count
    let maxWidth = longest == 0 ? end : longest

    // As the reference: r may pass the end before the first update (the window is cut
    // there), and `masksInWindow` starts at s_init.
    var (left, right) = (start, start + windowMasks)
    var previousLeft = left
    var masksInWindow = windowMasks
    var firstEOS = end
    var decidedSinceRefresh = Int.max

    while !canvas.isComplete {
      try session.checkCancelled()
      let fed: Range<Int>
      switch cache {
      case .none:
        fed = 0..<end
      case _ where decidedSinceRefresh >= refreshCount:
        fed = 0..<end
        decidedSinceRefresh = 0
      case .prefix(let delay):
        fed = (delay.map { max(previousLeft - $0, start) } ?? left)..<end
      case .dual(let delay):
        fed = delay.map { max(previousLeft - $0, start)..<min(right + $0, end) } ?? (left..<min(right, end))
      }
      let masked = canvas.masked(in: left..<min(right, end))
      let logits = try denoiser.forward(canvas.tokens, positions: Array(fed), logitsFor: masked)
      let picks = masked.map { predictor.predict(logits.row($0), at: $0) }.aboveThreshold(threshold)
      guard canvas.commit(picks.map { ($0.position, $0.token) }, session: session) else { return .stop }
      var decided = picks.count
      masksInWindow -= picks.count

      if let eos = picks.filter({ session.eosTokens.contains($0.token) }).min(by: { $0.position < $1.position }) {
        let padding = canvas.masked(in: eos.position + 1..<firstEOS)
        decided += padding.count
        masksInWindow -= padding.filter { $0 < right }.count
        guard canvas.commit(padding.map { ($0, eos.token) }, session: session) else { return .stop }
        firstEOS = min(eos.position, firstEOS)
      }
      if decidedSinceRefresh != Int.max { decidedSinceRefresh += decided }

      previousLeft = left
      while left < end && !canvas.isMasked(left) { left += 1 }
      let previousRight = right
      right = min(right + windowMasks - masksInWindow, left + maxWidth, firstEOS)
      if firstEOS == end { masksInWindow += right - previousRight }
    }
    return .length
  }
}
