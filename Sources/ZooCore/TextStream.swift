/// Turns a stream of token bytes into text that is safe to show: complete UTF-8
/// characters only, and never text that could still turn out to be the start of a
/// stop string. A stop string ends the stream; neither it nor anything after it is
/// released.
///
/// Matching is on text, not tokens: a stop string split across tokens is still found.
public struct TextStream: Sendable {
  private let stops: [[UInt8]]
  /// Decoded bytes not yet released: a possible stop-string prefix, or an
  /// incomplete UTF-8 sequence.
  private var pending: [UInt8] = []
  public private(set) var stopped = false

  public init(stopStrings: [String]) {
    stops = stopStrings.filter { !$0.isEmpty }.map { Array($0.utf8) }
  }

  /// Feeds the bytes of newly generated tokens and returns the text that can be
  /// released now. After a stop string is seen, `stopped` is true and later calls
  /// return nothing.
  public mutating func append(_ bytes: [UInt8]) -> String {
    guard !stopped else { return "" }
    pending += bytes
    // A complete stop string anywhere in pending ends the stream there.
    if let cut = firstStopIndex() {
      stopped = true
      let out = String(decoding: pending[..<cut], as: UTF8.self)
      pending.removeAll()
      return out
    }
    let hold = max(stopPrefixSuffixLength(), incompleteUTF8TailLength())
    let releasable = pending.count - hold
    guard releasable > 0 else { return "" }
    let out = String(decoding: pending[..<releasable], as: UTF8.self)
    pending.removeFirst(releasable)
    return out
  }

  /// Releases whatever is still held (at the end of generation). An incomplete UTF-8
  /// tail becomes U+FFFD.
  public mutating func finish() -> String {
    guard !stopped else { return "" }
    defer { pending.removeAll() }
    return String(decoding: pending, as: UTF8.self)
  }

  private func firstStopIndex() -> Int? {
    var best: Int?
    for stop in stops where stop.count <= pending.count {
      var i = 0
      while i + stop.count <= pending.count, i < (best ?? Int.max) {
        if pending[i] == stop[0], pending[i..<(i + stop.count)].elementsEqual(stop) { best = i; break }
        i += 1
      }
    }
    return best
  }

  /// Length of the longest suffix of pending that is a proper prefix of a stop string.
  private func stopPrefixSuffixLength() -> Int {
    var longest = 0
    for stop in stops {
      var n = min(stop.count - 1, pending.count)
      while n > longest {
        if pending[(pending.count - n)...].elementsEqual(stop[..<n]) { longest = n; break }
        n -= 1
      }
    }
    return longest
  }

  /// Bytes at the end of pending that start a UTF-8 sequence not yet complete.
  private func incompleteUTF8TailLength() -> Int {
    // Look back at most 3 bytes for the last lead byte.
    var i = pending.count - 1
    var back = 0
    while i >= 0, back < 3, pending[i] & 0xC0 == 0x80 {
      i -= 1
      back += 1
    }
    guard i >= 0 else { return 0 }
    let lead = pending[i]
    let need: Int
    switch lead {
    case 0xC0...0xDF: need = 2
    case 0xE0...0xEF: need = 3
    case 0xF0...0xF7: need = 4
    default: return 0  // ASCII or invalid: nothing to wait for
    }
    let have = pending.count - i
    return have < need ? have : 0
  }
}
