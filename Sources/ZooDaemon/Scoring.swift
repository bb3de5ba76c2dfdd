import Foundation
import ZooABI
import ZooCore
import ZooProto

/// A sequence checked against its model for scoring (Score, or a Generate with
/// prompt_logprobs): the ids to run, and which of them are scored.
struct PreparedScore: Sendable {
  /// The ids the model reads: a context token first when `prefixed`, then the text's.
  let tokens: [Int32]
  /// True when `tokens[0]` is a context token (BOS or EOS) that is not part of the text.
  let prefixed: Bool
  /// Per-token entries with this many alternatives; nil = totals only.
  let top: Int?
  /// Tokens per window, each read from a fresh state; 0 = one pass.
  let window: Int
  let tokenizer: (any Tokenizer)?

  /// The text's tokens (without the context token).
  var textTokens: ArraySlice<Int32> { prefixed ? tokens.dropFirst() : tokens[...] }
}

extension Runtime {
  /// Floats of logits one forward call of a score may hold (64 MB): the chunk of rows
  /// shrinks as the vocabulary grows.
  static let scoreLogitFloats = 16 << 20

  /// Checks that `model` can score (causal, within its positions) and that the ids fit
  /// its vocabulary (`top` is already checked to be in 0...20). `scoreFirst` puts the model's BOS (else its first EOS) before the
  /// text, so the text's first token is scored too.
  func prepareScore(
    text: String?, tokenIDs: [Int32], top: Int?, scoreFirst: Bool, window: Int = 0, model: LoadedModel
  ) throws -> PreparedScore {
    let info = model.handle.info
    let name = model.folder.name
    guard info.maskKinds.contains(.causal) else {
      throw ZooError.failedPrecondition(
        "model '\(name)' is not causal (it reads the whole sequence at once), so it gives no left-to-right log-probabilities to score a text with")
    }
    let tokenizer = try? model.tokenizer.get()
    var ids = tokenIDs
    if let text {
      guard let tokenizer else {
        throw ZooError.failedPrecondition("model '\(name)' has no tokenizer, so it cannot score text; send token ids")
      }
      ids = tokenizer.encode(text)
    }
    guard !ids.isEmpty else { throw ZooError.invalidArgument("nothing to score: the text gives no tokens") }
    if let bad = ids.first(where: { $0 < 0 || Int($0) >= info.vocabularySize }) {
      throw ZooError.invalidArgument("token id \(bad) is outside model '\(name)''s vocabulary of \(info.vocabularySize)")
    }
    let context = scoreFirst ? (info.specialTokens.bos ?? info.specialTokens.eos.first) : nil
    if let context { ids.insert(context, at: 0) }
    let limit = info.maxPositions
    return PreparedScore(
      tokens: ids, prefixed: context != nil, top: top,
      window: limit > 0 && (window == 0 || window > limit) ? limit : window, tokenizer: tokenizer)
  }

  /// Scores on its own thread (compute-bound), in forward calls of as many rows as
  /// `scoreLogitFloats` allows: each token's logprob given those before it, from the
  /// model's raw logits (log-softmax, no temperature). With a window (asked for, or
  /// the model's position limit) a longer text is read in disjoint windows of that
  /// many tokens, each on a fresh state (lm-evaluation-harness's rolling windows: a
  /// window's first token is scored from the one before it, no earlier context). `each` gets the entries and running totals
  /// after every call; the request is checked between calls. Returns the totals (done =
  /// true).
  func score(
    _ prepared: PreparedScore, model: LoadedModel, request: RequestContext,
    each: @escaping @Sendable (Zoo_V1_ScoreResponse) -> Void
  ) async throws -> Zoo_V1_ScoreResponse {
    let vocabulary = model.handle.info.vocabularySize
    let window = prepared.window
    let name = model.folder.name
    let start = ContinuousClock.now
    return try await withCheckedThrowingContinuation { continuation in
      Thread.detachNewThread {
        do {
          let tokens = prepared.tokens
          let rows = max(1, min(512, Self.scoreLogitFloats / max(vocabulary, 1)))
          var state = try model.handle.makeState()
          var inWindow = 0
          var logits = [Float](repeating: 0, count: rows * vocabulary)
          var totals = Zoo_V1_ScoreResponse.with {
            $0.totalTokens = Int64(tokens.count - 1)
            $0.window = Int32(clamping: window)
          }
          var entries: [Zoo_V1_TokenLogprobs] = []
          func text(_ id: Int32) -> String {
            prepared.tokenizer.map { String(decoding: $0.bytes(of: id), as: UTF8.self) } ?? ""
          }
          // Without a context token the text's first token is context only.
          if !prepared.prefixed && prepared.top != nil {
            entries.append(.with { $0.chosen = .with { $0.token = tokens[0]; $0.text = text(tokens[0]) } })
          }
          // Row r of the call over tokens[s..<e] predicts tokens[s + r + 1]; the last
          // token predicts nothing, so it is never run.
          var s = 0
          while s < tokens.count - 1 {
            if request.isCancelled { throw PluginError.cancelled() }
            if window > 0 && inWindow == window {
              state = try model.handle.makeState()
              inWindow = 0
            }
            let e = min(s + rows, tokens.count - 1, window > 0 ? s + window - inWindow : .max)
            inWindow += e - s
            try tokens[s..<e].withUnsafeBufferPointer { chunk in
              try logits.withUnsafeMutableBufferPointer { out in
                try model.handle.forward(chunk, state: state, logits: out.baseAddress!, request: request.opaque)
              }
            }
            for r in 0..<(e - s) {
              let next = tokens[s + r + 1]
              try logits.withUnsafeBufferPointer { all in
                let row = UnsafeBufferPointer(rebasing: all[(r * vocabulary)..<((r + 1) * vocabulary)])
                let distribution = LogProbabilities(row)
                let logprob = distribution.logprob(row[Int(next)])
                guard logprob.isFinite else {
                  throw PluginError.failedPrecondition(
                    "the model computed a non-finite logit: its weights are not finite numbers; check the checkpoint")
                }
                totals.logprobSum += Double(logprob)
                totals.scoredBytes += Int64(prepared.tokenizer?.bytes(of: next).count ?? 0)
                if let top = prepared.top {
                  entries.append(.with {
                    $0.chosen = .with { $0.token = next; $0.text = text(next); $0.logprob = logprob }
                    $0.top = distribution.top(top, of: row).map { alt in
                      .with { $0.token = alt.id; $0.text = text(alt.id); $0.logprob = alt.logprob }
                    }
                  })
                }
              }
            }
            totals.scoredTokens += Int64(e - s)
            totals.seconds = (ContinuousClock.now - start).seconds
            s = e
            if s < tokens.count - 1 {
              var update = totals
              update.tokens = entries
              entries.removeAll(keepingCapacity: true)
              each(update)
            }
          }
          totals.tokens = entries
          totals.done = true
          continuation.resume(returning: totals)
        } catch let error as PluginError {
          continuation.resume(throwing: ZooError.fromPlugin(
            Int32(truncatingIfNeeded: error.code.rawValue), error.message, context: "scoring with '\(name)'"))
        } catch {
          continuation.resume(throwing: ZooError.internalError("scoring with '\(name)' failed: \(error)"))
        }
      }
    }
  }
}
