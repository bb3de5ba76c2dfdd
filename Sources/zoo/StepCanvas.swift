import ZooProto

/// The generation window as a client sees it from `report_steps` events: every placed
/// token by position, undecided positions empty, and how far it is committed. `zoo
/// generate --show-steps` draws it after every step.
struct StepCanvas {
  /// Placed tokens by generated position; nil where nothing is decided yet.
  private(set) var slots: [Zoo_V1_TokenStep?]
  private(set) var committed = 0

  init(length: Int) { slots = Array(repeating: nil, count: length) }

  mutating func apply(_ step: Zoo_V1_TokenStep) {
    let p = Int(step.position)
    switch step.op {
    case .insert:
      if p > slots.count { slots += Array(repeating: nil, count: p - slots.count) }
      slots.insert(step, at: p)
    default:  // append and set both place the token at its position
      if p >= slots.count { slots += Array(repeating: nil, count: p + 1 - slots.count) }
      slots[p] = step
    }
    committed = max(committed, Int(step.committed))
  }

  /// The window as text: committed tokens as they are, placed but uncommitted ones
  /// underlined (on a terminal), undecided positions as ░. Tokens without text (models
  /// without a tokenizer) show their id in brackets. `oneLine` writes line breaks as ↵.
  func render(terminal: Bool, oneLine: Bool) -> String {
    var out = ""
    for (i, slot) in slots.enumerated() {
      guard let slot else {
        out += "░"
        continue
      }
      var text = slot.text.isEmpty ? "[\(slot.token)]" : slot.text
      if oneLine { text = text.replacingOccurrences(of: "\n", with: "↵") }
      out += terminal && i >= committed ? "\u{1B}[4m\(text)\u{1B}[24m" : text
    }
    return out
  }
}
