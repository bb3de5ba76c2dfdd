import ZooPluginKit

/// Logits of some canvas positions, one vocabulary row each. A class owning its floats,
/// so the rows it hands out stay valid while it lives.
final class PositionLogits {
  let vocabulary: Int
  /// Row index of each position that has logits.
  let rows: [Int: Int]
  let values: UnsafeMutableBufferPointer<Float>

  init(vocabulary: Int, rows: [Int: Int]) {
    self.vocabulary = vocabulary
    self.rows = rows
    values = .allocate(capacity: max(rows.count, 1) * vocabulary)
    values.initialize(repeating: 0)
  }

  deinit { values.deallocate() }

  /// The logits row of canvas position `position` (which must have been asked for).
  func row(_ position: Int) -> UnsafeBufferPointer<Float> {
    let r = rows[position]!
    return UnsafeBufferPointer(rebasing: values[r * vocabulary..<(r + 1) * vocabulary])
  }
}

/// The model calls of a masked-diffusion decoder: bidirectional forwards of chosen
/// canvas positions against a key/value state, with logits for chosen positions only.
///
/// The transformer plugin's state keeps keys and values by position and a call
/// overwrites the slots of the positions it feeds, attending to every valid slot
/// (zoo_forward_args). So one state serves every cache scheme: a full forward feeds all
/// positions; Fast-dLLM's prefix cache feeds the block and everything after it; its dual
/// cache and DCD's windows feed just their range, reusing the other slots as they were.
final class Denoiser {
  let session: DecodeSession
  let vocabulary: Int
  let state: ModelHandle.State

  init(_ session: DecodeSession) throws {
    self.session = session
    vocabulary = session.model.info.vocabularySize
    state = try session.model.makeState()
  }

  /// Feeds the canvas tokens at `positions` (ascending; none beyond the state's length
  /// plus the call's own) and returns the logits of `logitPositions` (a subset). With
  /// `keys` (ascending) the fed tokens attend to those positions only (ABI 1.3).
  func forward(_ tokens: [Int32], positions: [Int], keys: [Int]? = nil, logitsFor logitPositions: [Int]) throws -> PositionLogits {
    let fed = positions.map { tokens[$0] }
    let places = positions.map(Int64.init)
    let keyPlaces = keys?.map(Int64.init)
    var rowOf: [Int: Int] = [:]
    for (r, p) in positions.enumerated() { rowOf[p] = r }
    let logitRows = logitPositions.map { Int64(rowOf[$0]!) }
    var rows: [Int: Int] = [:]
    for (r, p) in logitPositions.enumerated() { rows[p] = r }
    let logits = PositionLogits(vocabulary: vocabulary, rows: rows)
    // No logits wanted (the call only refreshes keys and values): no buffer, as an empty
    // row list would read as "every row".
    let wantsLogits = !logitRows.isEmpty
    try fed.withUnsafeBufferPointer { t in
      try places.withUnsafeBufferPointer { p in
        try logitRows.withUnsafeBufferPointer { rows in
          try withKeys(keyPlaces) { k in
            try session.model.forward(
              t, state: state, positions: p, mask: .bidirectional, keyPositions: k, logitRows: wantsLogits ? rows : nil,
              logits: wantsLogits ? logits.values.baseAddress : nil, request: session.request)
          }
        }
      }
    }
    return logits
  }

  private func withKeys<R>(_ keys: [Int64]?, _ body: (UnsafeBufferPointer<Int64>?) throws -> R) rethrows -> R {
    guard let keys else { return try body(nil) }
    return try keys.withUnsafeBufferPointer { try body($0) }
  }

  /// A forward of the whole canvas, with logits for `logitPositions`.
  func full(_ tokens: [Int32], logitsFor logitPositions: [Int]) throws -> PositionLogits {
    try forward(tokens, positions: Array(tokens.indices), logitsFor: logitPositions)
  }
}
