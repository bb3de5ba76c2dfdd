import Foundation
import ZooCore
import ZooPluginKit
import ZooProto

/// `ilm`: insertion decoding with a stop head (Patel et al. 2025, arXiv 2505.05755;
/// dhruvdcoder/ILM @ 04f78bd src/pcdd/diffusion/ilm_v2.py,
/// `ILMPredictorWithLengthClassification._predict_single_step` and `_compute_stopping_mask`).
///
/// The sequence is `[CLS][BOS] prompt…` in storage order, each token with its logical
/// position. Every step runs the whole sequence bidirectionally and reads the insertion
/// logits l[i, v] (insert v right after the token at row i) and the stop head at the CLS
/// row; it stops when softmax(stop)[0] ≥ stop_threshold, else inserts one token:
///
///   - two-stage (default): the slot from the marginal m_i = logsumexp_v l[i, v] (top
///     slot_top_k), then the token from row i with the request's temperature, top_k, top_p;
///   - joint: (i, v) from one softmax over the flattened slots × tokens.
///
/// Rows where insertion is not allowed (CLS, a prompt's tokens except where it may grow,
/// a template's tokens except before its gaps) and the special tokens are −∞. The new
/// token is appended in storage with position pos[i] + 1; positions above pos[i] move up
/// by one, so nothing is shifted in memory. At temperature 0 both choices are argmaxes
/// (the official star-graph settings: token top-1, slot top-1).
///
/// Nothing is reused between steps: attention is bidirectional and an insertion moves the
/// positions (RoPE) of every later token, so every hidden state of every layer changes.
/// Each step truncates the state and re-runs all tokens (README: why, and the cost).
enum ILMDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "ilm"
    $0.description_p =
      "Insertion LM decoding (ILM): one token inserted per step where the prompt or template allows, slot then token "
      + "(or jointly), until the model's stop head says stop; fills the gaps of templates (GenerateRequest.segments)."
    $0.requires = .bidirectional
    $0.requiresHeads = ["stop"]
    $0.requiresStateTruncate = true
    $0.fillsGaps = true
    $0.options = [
      .field(
        "stop_threshold", .float, "0.5",
        "Stop once the stop head's probability of 'stop' reaches this (official stopping_threshold).",
        minimum: 0, maximum: 1),
      .field(
        "max_steps", .int, "128", "At most this many insertions (besides max_tokens).", minimum: 1, maximum: 65536),
      .field(
        "slot_top_k", .int, "1",
        "Two-stage: sample the slot among the k most likely (0 = all); at temperature 0 the likeliest.",
        minimum: 0, maximum: 65536),
      .field("joint", .bool, "false", "Sample slot and token together from the flattened slots × tokens softmax."),
      .field(
        "force_first_step", .bool, "false", "Insert at least one token before the stop head may end (official force_predict_first_step)."),
      .field(
        "suppress", .string, "\"\"",
        "Comma-separated token ids never inserted, besides CLS, BOS, PAD and EOS (official tokens_to_suppress)."),
    ]
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let info = session.model.info
    guard let cls = info.specialTokens.cls, let bos = info.specialTokens.bos, let stop = info.head(named: "stop") else {
      throw PluginError.failedPrecondition(
        "the ilm decoder needs a model with [CLS] and [BOS] ids (config.json cls_token_id, bos_token_id) and a 'stop' head")
    }
    var sequence = InsertionSequence(cls: cls, bos: bos, prompt: session.prompt, gaps: session.gaps)
    let v = info.vocabularySize
    var suppressed = Set([cls, bos] + [info.specialTokens.pad].compactMap { $0 } + session.eosTokens + info.specialTokens.eos)
    for item in try session.option("suppress").split(separator: ",") {
      guard let id = Int32(item.trimmingCharacters(in: .whitespaces)), (0..<Int32(v)).contains(id) else {
        throw PluginError.invalidArgument("decoder option 'suppress' must list token ids below \(v), comma-separated; got '\(item)'")
      }
      suppressed.insert(id)
    }
    let threshold = try session.floatOption("stop_threshold")
    let forceFirst = try session.boolOption("force_first_step")
    let joint = try session.boolOption("joint")
    let steps = min(try session.intOption("max_steps"), Int(session.options.maxTokens))
    let temperature = session.options.temperature
    var tokens = session.makeSampler()
    var slots = Sampler(
      options: SamplingOptions(
        temperature: temperature == 0 ? 0 : 1, topK: try session.intOption("slot_top_k"), topP: 1,
        seed: session.options.seed &+ 1))
    let state = try session.model.makeState()
    // Text positions: after CLS and BOS; a plain prompt's events count generated tokens only.
    let firstTextPosition = 2 + (session.gaps == nil ? session.prompt.count : 0)

    for step in 0..<steps {
      try session.checkCancelled()
      if info.maxPositions > 0 && sequence.count >= info.maxPositions { return .length }
      let out = try forward(sequence, state: state, session: session, stopHead: stop)
      let pStop = stopProbability(out.stop[0], out.stop[1])
      if pStop >= threshold && !(forceFirst && step == 0) { return .eos }

      // −∞ where nothing may be inserted and for suppressed tokens.
      var logits = out.logits
      for row in 0..<sequence.count {
        let base = row * v
        if !sequence.insertable[row] {
          for t in 0..<v { logits[base + t] = -.infinity }
        } else {
          for t in suppressed { logits[base + Int(t)] = -.infinity }
        }
      }
      let (row, token) = logits.withUnsafeBufferPointer { l in
        joint ? pickJoint(l, vocabulary: v, sampler: &tokens.sampler) : pickTwoStage(l, vocabulary: v, slots: &slots, tokens: &tokens.sampler)
      }
      let chosen = choice(token, row: row, logits: logits, vocabulary: v, logprobs: tokens.logprobs)
      let position = sequence.insert(token, after: row)
      guard session.emit(chosen, at: .insert(position - firstTextPosition)) else { return .stop }
    }
    return .length
  }

  /// One full bidirectional forward of the sequence: insertion logits [rows, V] and the
  /// stop head's two logits at the CLS row (row 0).
  static func forward(
    _ sequence: InsertionSequence, state: ModelHandle.State, session: DecodeSession, stopHead: Int
  ) throws -> (logits: [Float], stop: [Float]) {
    try state.truncate(to: 0)
    let n = sequence.count
    var logits = [Float](repeating: 0, count: n * session.model.info.vocabularySize)
    var stop = [Float](repeating: 0, count: n * 2)
    let positions = sequence.positions.map(Int64.init)
    try sequence.tokens.withUnsafeBufferPointer { t in
      try positions.withUnsafeBufferPointer { p in
        try logits.withUnsafeMutableBufferPointer { l in
          try stop.withUnsafeMutableBufferPointer { s in
            try session.model.forward(
              t, state: state, positions: p, mask: .bidirectional, logits: l.baseAddress,
              head: (stopHead, s.baseAddress!), request: session.request)
          }
        }
      }
    }
    return (logits, Array(stop[0..<2]))
  }

  /// softmax([stop, continue])[0] in float64.
  static func stopProbability(_ stop: Float, _ go: Float) -> Double {
    1 / (1 + exp(Double(go) - Double(stop)))
  }

  /// Slot from the marginal over tokens (logsumexp, float64), then the token in it.
  static func pickTwoStage(
    _ logits: UnsafeBufferPointer<Float>, vocabulary v: Int, slots: inout Sampler, tokens: inout Sampler
  ) -> (row: Int, token: Int32) {
    let rows = logits.count / v
    var marginal = [Float](repeating: -.infinity, count: rows)
    for r in 0..<rows {
      let row = UnsafeBufferPointer(rebasing: logits[r * v..<(r + 1) * v])
      guard let top = row.max(), top > -.infinity else { continue }
      var sum = 0.0
      for x in row { sum += exp(Double(x - top)) }
      marginal[r] = top + Float(log(sum))
    }
    let row = Int(marginal.withUnsafeBufferPointer { slots.sample($0) })
    let token = tokens.sample(UnsafeBufferPointer(rebasing: logits[row * v..<(row + 1) * v]))
    return (row, token)
  }

  /// (slot, token) from one distribution over the flattened logits.
  static func pickJoint(_ logits: UnsafeBufferPointer<Float>, vocabulary v: Int, sampler: inout Sampler) -> (row: Int, token: Int32) {
    let flat = Int(sampler.sample(logits))
    return (flat / v, Int32(flat % v))
  }

  /// The chosen token with its log-probability under the joint slots × tokens softmax of
  /// the masked raw logits, and the slot's likeliest alternatives, when asked for.
  static func choice(_ token: Int32, row: Int, logits: [Float], vocabulary v: Int, logprobs: Int) -> SampledToken {
    guard logprobs > 0 else { return SampledToken(id: token, logprob: 0, top: []) }
    return logits.withUnsafeBufferPointer { all in
      let joint = LogProbabilities(all)
      let slot = UnsafeBufferPointer(rebasing: all[row * v..<(row + 1) * v])
      let inSlot = LogProbabilities(slot)
      // From log p(v | slot) to log p(slot, v).
      let shift = inSlot.logSumExp - joint.logSumExp
      let top = inSlot.top(logprobs, of: slot).map { (id: $0.id, logprob: $0.logprob + shift) }
      return SampledToken(id: token, logprob: joint.logprob(slot[Int(token)]), top: top)
    }
  }
}

/// The sequence an insertion decoder grows: tokens in storage order (CLS first, new
/// tokens appended), their logical positions, and where insertions may go.
struct InsertionSequence {
  private(set) var tokens: [Int32]
  private(set) var positions: [Int]
  /// Row i: a token may be inserted right after it.
  private(set) var insertable: [Bool]

  /// `[CLS][BOS] prompt…`. With `gaps` (prompt.count + 1 flags) insertions go right before
  /// prompt token k where gaps[k] (k = prompt.count: at the end); without, only after the
  /// prompt's last token (continuation). CLS never takes one; new tokens always do.
  init(cls: Int32, bos: Int32, prompt: [Int32], gaps: [Bool]?) {
    tokens = [cls, bos] + prompt
    positions = Array(0..<tokens.count)
    let allowed = gaps ?? (Array(repeating: false, count: prompt.count) + [true])
    insertable = [false] + allowed
  }

  var count: Int { tokens.count }

  /// Inserts `token` right after row `row`; returns its logical position.
  mutating func insert(_ token: Int32, after row: Int) -> Int {
    let position = positions[row] + 1
    for i in positions.indices where positions[i] >= position { positions[i] += 1 }
    tokens.append(token)
    positions.append(position)
    insertable.append(true)
    return position
  }
}
