import ZooPluginKit
import ZooProto

/// `fast-dllm`: Fast-dLLM's parallel decoding with key/value caches (Wu et al. 2025,
/// arXiv 2505.22618; NVlabs/Fast-dLLM @ 24cc59e llada/generate.py `generate`,
/// `generate_with_prefix_cache`, `generate_with_dual_cache`, `get_transfer_index`).
///
/// Blocks of `block_length` are decoded left to right. A step predicts every mask of
/// the block and commits the most confident one, plus every other whose softmax
/// probability (float64) reaches `threshold`; the block repeats steps until no mask is
/// left. Caches (`cache`):
/// - `none`: every step runs the whole canvas.
/// - `prefix`: a block starts with a full forward (which also commits); its later steps
///   run the block and everything after it against the cached prefix.
/// - `dual`: a block starts with a full forward; its later steps run only the block,
///   reusing the cached keys and values of the prefix and of the suffix from that start.
enum FastDLLMDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "fast-dllm"
    $0.description_p =
      "Fast-dLLM: confidence-threshold parallel commits (the most confident always, others at or above threshold) "
      + "in semi-autoregressive blocks, with no cache, a prefix cache or a dual cache (NVlabs/Fast-dLLM llada/generate.py)."
    $0.requires = .bidirectional
    $0.requiresMaskToken = true
    $0.options = [
      .field("threshold", .float, "0.9", "Commit every prediction of the block whose probability is at least this (the most confident is always committed); above 1, one token per step.", minimum: 0),
      .field("block_length", .int, "32", "Tokens per block, decoded left to right; 0 means max_tokens (one block). The last block may be shorter.", minimum: 0, maximum: 65536),
      .field("cache", .string, "\"dual\"", "Key/value reuse within a block: none (full forward every step), prefix (re-run the block and what follows), dual (re-run only the block).", allowed: ["none", "prefix", "dual"]),
    ]
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let threshold = try session.floatOption("threshold")
    let requested = try session.intOption("block_length")
    let cache = try session.option("cache")
    var canvas = try Canvas(session)
    var predictor = Predictor(
      temperature: Double(session.options.temperature), neverPicked: [canvas.mask], seed: session.options.seed)
    let denoiser = try Denoiser(session)
    let all = Array(0..<canvas.count)

    for block in canvas.blocks(of: requested == 0 ? canvas.generation.count : requested) {
      // Positions a step feeds: the whole canvas at a block's start and without cache.
      var fed = all
      while true {
        try session.checkCancelled()
        let masked = canvas.masked(in: block)
        if masked.isEmpty { break }
        let logits = try denoiser.forward(canvas.tokens, positions: fed, logitsFor: masked)
        let picks = masked.map { predictor.predict(logits.row($0), at: $0) }.aboveThreshold(threshold)
        guard canvas.commit(picks.map { ($0.position, $0.token) }, session: session) else { return .stop }
        switch cache {
        case "prefix": fed = Array(block.lowerBound..<canvas.count)
        case "dual": fed = Array(block)
        default: break
        }
      }
    }
    return .length
  }
}
