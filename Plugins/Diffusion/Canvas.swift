import ZooPluginKit

/// The sequence a masked-diffusion decoder works on: the prompt, then `max_tokens`
/// generation slots that start as the model's [MASK] token and are committed one by
/// one. Every commit is reported to zood as a `.set` event, with the commit mark at the
/// end of the decided left-to-right prefix, so text streams as soon as a prefix is final
/// (and stop strings, EOS and hold-back keep working).
struct Canvas {
  /// Prompt then generation slots.
  private(set) var tokens: [Int32]
  let promptLength: Int
  let mask: Int32
  /// Generation slots decided from the left (the commit mark).
  private(set) var decidedPrefix = 0
  /// Masked slots left.
  private(set) var maskedCount: Int

  init(prompt: [Int32], length: Int, mask: Int32) {
    tokens = prompt + [Int32](repeating: mask, count: length)
    promptLength = prompt.count
    self.mask = mask
    maskedCount = length
  }

  var count: Int { tokens.count }
  /// Canvas positions of the generation slots.
  var generation: Range<Int> { promptLength..<tokens.count }
  var isComplete: Bool { maskedCount == 0 }

  func isMasked(_ position: Int) -> Bool { tokens[position] == mask }

  /// Masked positions in `range`, left to right.
  func masked(in range: Range<Int>) -> [Int] { range.filter { tokens[$0] == mask } }

  /// The first `count` masked positions, left to right.
  func firstMasked(_ count: Int) -> [Int] {
    var out: [Int] = []
    var p = promptLength
    while out.count < count && p < tokens.count {
      if tokens[p] == mask { out.append(p) }
      p += 1
    }
    return out
  }

  /// The generation cut into blocks of `length` from the left (the last may be shorter).
  func blocks(of length: Int) -> [Range<Int>] {
    stride(from: promptLength, to: count, by: length).map { $0..<min($0 + length, count) }
  }

  /// Commits `token` at canvas position `position` (a masked generation slot) and reports
  /// it. Returns false when zood wants generation to stop. Every decoder's predictor
  /// excludes the mask token, so a commit always decides its slot.
  mutating func commit(_ token: Int32, at position: Int, session: DecodeSession) -> Bool {
    precondition(generation.contains(position) && tokens[position] == mask && token != mask, "commit at \(position) is not a decision")
    tokens[position] = token
    maskedCount -= 1
    let before = decidedPrefix
    while decidedPrefix < generation.count && tokens[promptLength + decidedPrefix] != mask { decidedPrefix += 1 }
    return session.emit(
      token, at: .set(position - promptLength), committed: decidedPrefix > before ? decidedPrefix : nil)
  }

  /// Commits each (position, token) in order; false as soon as zood wants to stop.
  mutating func commit(_ picks: [(position: Int, token: Int32)], session: DecodeSession) -> Bool {
    for pick in picks where !commit(pick.token, at: pick.position, session: session) { return false }
    return true
  }
}
