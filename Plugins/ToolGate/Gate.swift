/// Tool Attention's gate (arXiv 2604.21816 §4; asadani/tool-attention
/// `IntentRouter.route`): rank every tool by its Intent-Schema Overlap with the query,
/// take the best `slate` of them, and walk those best first, offering a tool when
/// ISO >= threshold and its preconditions hold, until `topK` are offered.
struct GateSettings: Equatable, Sendable {
  var threshold: Float = 0.28
  var topK = 10
  /// How many of the best-scoring tools the walk considers; 0 = max(4 top_k, 20).
  var slate = 0

  var effectiveSlate: Int { slate > 0 ? slate : max(4 * topK, 20) }
}

/// One tool's outcome.
struct GateDecision: Equatable, Sendable {
  let index: Int  // into the tools given to `gate`
  let iso: Float
  /// Nil when offered, else why not.
  let excluded: String?
}

enum Gate {
  /// Every tool's decision, best ISO first (ties by position, so the order is stable).
  /// `unmet(i)` says why tool i's preconditions fail, or nil.
  static func gate(
    iso: [Float], settings: GateSettings, unmet: (Int) -> String?
  ) -> [GateDecision] {
    let order = iso.indices.sorted { iso[$0] != iso[$1] ? iso[$0] > iso[$1] : $0 < $1 }
    var offered = 0
    return order.enumerated().map { rank, i in
      let reason: String? =
        if rank >= settings.effectiveSlate {
          "outside the slate of \(settings.effectiveSlate)"
        } else if iso[i] < settings.threshold {
          "below threshold \(settings.threshold)"
        } else if let why = unmet(i) {
          why
        } else if offered >= settings.topK {
          "top_k \(settings.topK) reached"
        } else {
          nil
        }
      if reason == nil { offered += 1 }
      return GateDecision(index: i, iso: iso[i], excluded: reason)
    }
  }

  /// Cosine similarity; MiniLM's vectors are unit length already, but a model that does
  /// not normalise must rank the same way.
  static func cosine(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var dot: Float = 0
    var na: Float = 0
    var nb: Float = 0
    for i in a.indices {
      dot += a[i] * b[i]
      na += a[i] * a[i]
      nb += b[i] * b[i]
    }
    let norm = (na * nb).squareRoot()
    return norm > 0 ? dot / norm : 0
  }
}
