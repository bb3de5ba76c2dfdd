import ZooCore
import ZooPluginKit

/// The shape of a model's Sessa cache; a state is only accepted by a model of the same
/// layout.
public struct SessaCacheLayout: Equatable, Sendable {
  /// Sessa layers.
  public var layers: Int
  /// Floats per position of the forward keys, and again of the values: n_kv_heads · d.
  public var kvWidth: Int
  /// Model width D: floats per position of the feedback keys, and again of s.
  public var width: Int
  /// Longest sequence, or 0 for unbounded.
  public var maxPositions: Int

  public init(layers: Int, kvWidth: Int, width: Int, maxPositions: Int = 0) {
    self.layers = layers
    self.kvWidth = kvWidth
    self.width = width
    self.maxPositions = maxPositions
  }

  /// Floats one position costs in one layer: k_f, v_f, k_b and s.
  var floatsPerPosition: Int { 2 * kvWidth + 2 * width }
  /// Bytes one position costs across all layers.
  public var bytesPerToken: Int { layers * floatsPerPosition * MemoryLayout<Float>.size }
}

/// One layer's slice of the cache, each `[capacity, width]` with row p for position p
/// (the official `init_cache` dict: "k_f", "v_f", "k_b", "s"). Valid until the state
/// grows or is freed.
public struct SessaLayerCache {
  /// Forward keys after RoPE, `[capacity, n_kv_heads · d]`.
  public let forwardKeys: UnsafeMutablePointer<Float>
  /// Forward values, `[capacity, n_kv_heads · d]`.
  public let forwardValues: UnsafeMutablePointer<Float>
  /// Feedback keys k_b, `[capacity, D]`.
  public let feedbackKeys: UnsafeMutablePointer<Float>
  /// The mixer's past outputs s, `[capacity, D]`.
  public let outputs: UnsafeMutablePointer<Float>
}

/// A sequence's Sessa state: per layer, the growing cache of forward keys and values,
/// feedback keys and past mixer outputs s, one row per position. A new token reads all
/// rows (O(t) work) and appends one, so nothing is re-run. `truncate` forgets rows and
/// `copy` duplicates the valid ones; both are exact, since row p depends only on
/// positions ≤ p.
///
/// The state also owns the scratch memory of its forward calls, grown on demand, so
/// decoding one token after another allocates only when the cache doubles.
public final class SessaState: ModelState {
  public let layout: SessaCacheLayout
  /// Positions held (rows 0..<length of every layer are valid).
  public var length = 0
  public private(set) var capacity = 0
  /// Per layer one allocation: k_f, v_f, k_b, s regions of `capacity` rows each.
  private var buffers: [UnsafeMutablePointer<Float>] = []
  private let scratchSpace = ScratchBuffer()

  public init(layout: SessaCacheLayout) {
    self.layout = layout
  }

  deinit {
    for b in buffers { b.deallocate() }
  }

  /// Layer `index`'s cache views.
  public func layer(_ index: Int) -> SessaLayerCache {
    Self.views(buffers[index], capacity: capacity, layout: layout)
  }

  private static func views(
    _ base: UnsafeMutablePointer<Float>, capacity: Int, layout: SessaCacheLayout
  ) -> SessaLayerCache {
    let kv = capacity * layout.kvWidth
    return SessaLayerCache(
      forwardKeys: base, forwardValues: base + kv, feedbackKeys: base + 2 * kv,
      outputs: base + 2 * kv + capacity * layout.width)
  }

  /// Makes room for `positions` rows per layer, keeping the valid ones. Grows by
  /// doubling (capped at the model's maximum) so appending one token at a time copies
  /// each row O(1) times on average.
  public func reserve(_ positions: Int) {
    guard positions > capacity else { return }
    var newCapacity = max(positions, 2 * capacity, 16)
    if layout.maxPositions > 0 { newCapacity = max(positions, min(newCapacity, layout.maxPositions)) }
    buffers = (0..<layout.layers).map { index in
      let grown = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * layout.floatsPerPosition)
      if index < buffers.count {
        Self.copyRows(
          length, from: Self.views(buffers[index], capacity: capacity, layout: layout),
          to: Self.views(grown, capacity: newCapacity, layout: layout), layout: layout)
        buffers[index].deallocate()
      }
      return grown
    }
    capacity = newCapacity
  }

  private static func copyRows(_ rows: Int, from a: SessaLayerCache, to b: SessaLayerCache, layout: SessaCacheLayout) {
    b.forwardKeys.update(from: a.forwardKeys, count: rows * layout.kvWidth)
    b.forwardValues.update(from: a.forwardValues, count: rows * layout.kvWidth)
    b.feedbackKeys.update(from: a.feedbackKeys, count: rows * layout.width)
    b.outputs.update(from: a.outputs, count: rows * layout.width)
  }

  /// At least `count` floats of scratch, valid until the next call.
  func scratch(_ count: Int) -> UnsafeMutablePointer<Float> { scratchSpace.floats(count) }

  /// A deep copy of the valid rows (beam search, speculative decoding).
  public func copy() throws -> any ModelState {
    let other = SessaState(layout: layout)
    other.reserve(max(length, 1))
    // A fresh state has no rows, and no buffers to read them from.
    for index in 0..<layout.layers where capacity > 0 {
      Self.copyRows(length, from: layer(index), to: other.layer(index), layout: layout)
    }
    other.length = length
    return other
  }

  /// Forgets positions ≥ `length` (the rows stay allocated for reuse). Exact: no kept
  /// row depends on a forgotten one.
  public func truncate(to length: Int) throws {
    guard length >= 0 else { throw PluginError.invalidArgument("cannot truncate a state to \(length) tokens") }
    self.length = min(length, self.length)
  }
}
