import ZooCore
import ZooPluginKit

/// The shape of a model's key/value cache; a state is only accepted by a model of the
/// same layout.
struct KVCacheLayout: Equatable, Sendable {
  var layers: Int
  /// Floats per position per layer for keys (and again for values): kvHeads · headDim.
  var width: Int
  /// Positions the model supports (max_position_embeddings).
  var maxPositions: Int
  /// Floats kept per position of the final hidden state (a model whose logits at p read
  /// the hidden state of p − 1); 0 keeps none.
  var hiddenWidth = 0

  /// Bytes one position costs across all layers (keys and values, and the kept hidden state).
  var bytesPerToken: Int { (2 * layers * width + hiddenWidth) * MemoryLayout<Float>.size }
}

/// A sequence's key/value cache: per layer, keys and values in one slot per position
/// ([capacity, width] each, slot p holding position p), as zoo_forward_args describes.
/// A forward call writes its tokens' slots and may overwrite earlier ones; `length` is
/// the number of valid slots (always a prefix: positions never leave holes).
///
/// The state also owns the scratch memory of its forward calls, grown on demand and
/// kept between calls (released after a call that needed more than 64 MiB), so decoding
/// does not allocate scratch per token.
final class KVCacheState: ModelState {
  let layout: KVCacheLayout
  var length = 0
  private(set) var capacity = 0
  private var keys: [UnsafeMutablePointer<Float>]
  private var values: [UnsafeMutablePointer<Float>]
  /// The final hidden state by position, when the layout keeps it ([capacity, hiddenWidth]).
  private(set) var hidden: UnsafeMutablePointer<Float>?
  private let scratchSpace = ScratchBuffer()

  init(layout: KVCacheLayout) {
    self.layout = layout
    keys = []
    values = []
  }

  deinit {
    for p in keys + values { p.deallocate() }
    hidden?.deallocate()
  }

  /// Layer `layer`'s keys, [capacity, width].
  func keys(_ layer: Int) -> UnsafeMutablePointer<Float> { keys[layer] }
  /// Layer `layer`'s values, [capacity, width].
  func values(_ layer: Int) -> UnsafeMutablePointer<Float> { values[layer] }

  /// Makes room for `positions` slots per layer, keeping the valid ones. Grows by
  /// doubling (capped at the model's maximum) so appending one token at a time copies
  /// each slot O(1) times on average.
  func reserve(_ positions: Int) {
    guard positions > capacity else { return }
    let newCapacity = min(max(positions, 2 * capacity, 16), max(layout.maxPositions, positions))
    let w = layout.width
    func grow(_ old: [UnsafeMutablePointer<Float>]) -> [UnsafeMutablePointer<Float>] {
      (0..<layout.layers).map { layer in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * w)
        if layer < old.count {
          p.update(from: old[layer], count: length * w)
          old[layer].deallocate()
        }
        return p
      }
    }
    keys = grow(keys)
    values = grow(values)
    if layout.hiddenWidth > 0 {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * layout.hiddenWidth)
      if let old = hidden {
        p.update(from: old, count: length * layout.hiddenWidth)
        old.deallocate()
      }
      hidden = p
    }
    capacity = newCapacity
  }

  /// At least `count` floats of scratch, valid until the next call.
  func scratch(_ count: Int) -> UnsafeMutablePointer<Float> { scratchSpace.floats(count) }

  /// Frees scratch above 64 MiB (left by a long prefill) so an idle state does not hold it.
  func trimScratch() { scratchSpace.release(above: 1 << 24) }

  /// A deep copy of the valid slots (beam search, branching decoders).
  func copy() throws -> any ModelState {
    let other = KVCacheState(layout: layout)
    other.reserve(max(length, 1))
    for layer in 0..<layout.layers {
      other.keys[layer].update(from: keys[layer], count: length * layout.width)
      other.values[layer].update(from: values[layer], count: length * layout.width)
    }
    if let hidden, let copy = other.hidden { copy.update(from: hidden, count: length * layout.hiddenWidth) }
    other.length = length
    return other
  }

  /// Forgets positions ≥ `length` (the slots stay allocated for reuse).
  func truncate(to length: Int) throws {
    self.length = min(length, self.length)
  }
}

/// Where one forward call's tokens go in the cache and which slots each of them sees,
/// checked before anything is written (so a refused call leaves the state as it was).
struct CachePlan {
  /// Position (cache slot) of each token.
  let positions: [Int]
  /// The state's length after the call: max(length, largest position + 1).
  let newLength: Int
  /// How many slots (positions 0..<count) each token attends to under the mask.
  let keyCounts: [Int]
  /// The slots every token attends to instead, when the call names them (ABI 1.3
  /// key_positions): ascending, each below the new length.
  let keySlots: [Int]?
  /// True when positions strictly increase and the mask is causal: then no token sees a
  /// later token's slot, and the call may run in consecutive chunks of tokens.
  let isChunkable: Bool

  /// Positions are the input's, or length..<length+n when absent. Each must be ≥ 0,
  /// below `maxPositions` and not taken by another token of the same call, and with the
  /// state's slots they must leave no hole (in any order: an insertion LM stores tokens
  /// out of logical order).
  /// Key counts by position p: causal p + 1; bidirectional the new length; block-causal
  /// min(new length, (p / block + 1) · block).
  init(_ input: ForwardInput, length: Int, maxPositions: Int) throws {
    let n = input.tokens.count
    var positions = [Int](repeating: 0, count: n)
    var running = length
    var increasing = true
    if let given = input.positions {
      guard given.count == n else {
        throw PluginError.invalidArgument("\(given.count) positions were given for \(n) tokens")
      }
      var seen = Set<Int>()
      for (i, raw) in given.enumerated() {
        let p = Int(raw)
        guard p >= 0 else { throw PluginError.invalidArgument("position \(p) at row \(i) is negative") }
        guard p < maxPositions else {
          throw PluginError.outOfRange(
            "position \(p) at row \(i) is beyond the model's \(maxPositions) positions (max_position_embeddings)")
        }
        guard seen.insert(p).inserted else {
          throw PluginError.invalidArgument("position \(p) appears twice in this call (row \(i)); each token needs its own slot")
        }
        if i > 0, p < positions[i - 1] { increasing = false }
        positions[i] = p
        running = max(running, p + 1)
      }
      // In any order within the call, but together with the slots already there the
      // positions must fill 0..<running.
      if seen.count(where: { $0 >= length }) < running - length,
        let hole = (length..<running).first(where: { !seen.contains($0) })
      {
        throw PluginError.invalidArgument(
          "the positions leave a hole at \(hole): the sequence has \(length) positions so far and this call reaches \(running - 1), so every position from \(length) to \(running - 1) needs a token")
      }
    } else {
      guard length + n <= maxPositions else {
        throw PluginError.outOfRange(
          "\(length) cached + \(n) new tokens exceed the model's \(maxPositions) positions (max_position_embeddings)")
      }
      for i in 0..<n { positions[i] = length + i }
      running = length + n
    }
    let newLength = running
    switch input.mask {
    case .causal:
      keyCounts = positions.map { $0 + 1 }
    case .bidirectional:
      keyCounts = [Int](repeating: newLength, count: n)
    case .blockCausal:
      let b = input.blockSize
      guard b >= 1 else {
        throw PluginError.invalidArgument("the block-causal mask needs block_size >= 1 (got \(b))")
      }
      keyCounts = positions.map { min(newLength, ($0 / b + 1) * b) }
    }
    keySlots = try input.keyPositions.map { given in
      var slots: [Int] = []
      slots.reserveCapacity(given.count)
      for raw in given {
        let p = Int(raw)
        guard p >= 0, p < newLength else {
          throw PluginError.invalidArgument(
            "key position \(p) is outside the sequence's \(newLength) positions after this call")
        }
        guard slots.last.map({ p > $0 }) ?? true else {
          throw PluginError.invalidArgument("key positions must be strictly ascending (\(p) follows \(slots.last!))")
        }
        slots.append(p)
      }
      guard !slots.isEmpty else { throw PluginError.invalidArgument("key positions were given but none listed") }
      return slots
    }
    self.positions = positions
    self.newLength = newLength
    isChunkable = input.mask == .causal && increasing
  }

  private init(positions: [Int], newLength: Int, keyCounts: [Int], keySlots: [Int]?, isChunkable: Bool) {
    self.positions = positions
    self.newLength = newLength
    self.keyCounts = keyCounts
    self.keySlots = keySlots
    self.isChunkable = isChunkable
  }

  /// The plan of tokens `rows` only (for a chunkable plan: what a call of just those
  /// tokens would do at that point).
  func rows(_ rows: Range<Int>) -> CachePlan {
    CachePlan(
      positions: Array(positions[rows]), newLength: newLength, keyCounts: Array(keyCounts[rows]), keySlots: keySlots,
      isChunkable: isChunkable)
  }
}
