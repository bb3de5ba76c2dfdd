import Synchronization

/// Phase 2 of Tool Attention's lazy loader: a tool's full schema is parsed, checked and
/// rendered for the prompt only when the tool is promoted, and kept in a least recently
/// used cache (the official loader's `OrderedDict`, capacity 256). The resident part of a
/// catalog is the summaries and their embeddings; the raw schema text stays as stored.
/// Keys carry the catalog's generation, so a replaced catalog's entries just age out.
final class SchemaCache: Sendable {
  /// A promoted tool's schema: the validator and the JSON that goes into the prompt.
  struct Entry: Sendable {
    let schema: JSONSchema
    let promptJSON: String
  }

  private struct State {
    var entries: [String: (entry: Entry, used: UInt64)] = [:]
    var clock: UInt64 = 0
  }

  let capacity: Int
  private let state = Mutex(State())

  init(capacity: Int) { self.capacity = capacity }

  /// The entry for `key`, made by `load` on a miss (outside the lock; two threads may
  /// both load the same schema, which only costs time).
  func entry(_ key: String, load: () throws -> Entry) rethrows -> Entry {
    if let hit = state.withLock({ s -> Entry? in
      guard let found = s.entries[key] else { return nil }
      s.clock += 1
      s.entries[key]!.used = s.clock
      return found.entry
    }) {
      return hit
    }
    let loaded = try load()
    state.withLock { s in
      s.clock += 1
      s.entries[key] = (loaded, s.clock)
      if s.entries.count > capacity, let oldest = s.entries.min(by: { $0.value.used < $1.value.used })?.key {
        s.entries[oldest] = nil
      }
    }
    return loaded
  }
}
