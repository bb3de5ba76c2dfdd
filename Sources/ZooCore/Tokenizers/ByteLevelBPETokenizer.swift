import Foundation
import Synchronization

/// GPT-2-style byte-level BPE, reproducing Hugging Face `tokenizers` for a tokenizer.json
/// with no normalizer, a ByteLevel pre-tokenizer, a BPE model (no dropout, no unknown
/// token, no subword prefix/suffix, no byte fallback), and ByteLevel post-processor and
/// decoder.
public struct ByteLevelBPETokenizer: HuggingFaceTokenizer {
  private let vocabulary: [String: Int32]
  private let tokensById: [String]
  /// Merge ranks keyed by the pair of symbol ids; the value is (rank, merged id).
  private let merges: [PairKey: (rank: Int32, merged: Int32)]
  /// Id of each of the 256 byte-level alphabet symbols, indexed by byte.
  private let byteSymbolIds: [Int32]
  /// Raw bytes each id stands for (byte-level symbols mapped back; added tokens as UTF-8).
  private let bytesById: [[UInt8]]
  private let addPrefixSpace: Bool
  private let useRegex: Bool
  private let ignoreMerges: Bool
  private let splitter: AddedTokenSplitter
  private let specialIds: Set<Int32>
  private let cache = BPEWordCache()

  init(config: TokenizerJSONConfig) throws {
    if let normalizer = config.normalizer {
      let type = (normalizer["type"] as? String) ?? "?"
      throw TokenizerLoadError("normalizer '\(type)' is not supported with byte-level BPE")
    }
    guard let preTokenizer = config.preTokenizer else {
      throw TokenizerLoadError("BPE without a pre_tokenizer is not supported (expected 'ByteLevel')")
    }
    let preType = try componentType(preTokenizer, role: "pre_tokenizer")
    guard preType == "ByteLevel" else { throw TokenizerLoadError("pre_tokenizer '\(preType)' is not supported with BPE") }
    addPrefixSpace = preTokenizer["add_prefix_space"] as? Bool ?? true
    useRegex = preTokenizer["use_regex"] as? Bool ?? true

    guard let model = config.model else { throw TokenizerLoadError("tokenizer.json has no 'model'") }
    if let dropout = model["dropout"] as? NSNumber {
      throw TokenizerLoadError("BPE model option 'dropout' (\(dropout)) is not supported")
    }
    for option in ["unk_token", "continuing_subword_prefix", "end_of_word_suffix"] {
      if let value = model[option] as? String {
        throw TokenizerLoadError("BPE model option '\(option)' ('\(value)') is not supported")
      }
    }
    if model["byte_fallback"] as? Bool == true {
      throw TokenizerLoadError("BPE model option 'byte_fallback' is not supported")
    }
    ignoreMerges = model["ignore_merges"] as? Bool ?? false

    if let processor = config.postProcessor {
      // ByteLevel's post-processor only trims offsets; ids are untouched.
      let type = try componentType(processor, role: "post_processor")
      guard type == "ByteLevel" else { throw TokenizerLoadError("post_processor '\(type)' is not supported with BPE") }
    }
    guard let decoder = config.decoder else {
      throw TokenizerLoadError("BPE without a decoder is not supported (expected decoder 'ByteLevel')")
    }
    let decoderType = try componentType(decoder, role: "decoder")
    guard decoderType == "ByteLevel" else { throw TokenizerLoadError("decoder '\(decoderType)' is not supported with BPE") }

    guard let vocab = model["vocab"] as? [String: Any] else { throw TokenizerLoadError("BPE model without a 'vocab' object") }
    var vocabulary: [String: Int32] = [:]
    for (token, value) in vocab {
      guard let id = tokenId(fromJSON: value) else {
        throw TokenizerLoadError("BPE vocab entry '\(token.clipped())' has no token id (an integer in 0...2147483647)")
      }
      vocabulary[token] = id
    }
    let added = try config.parseAddedTokens()
    // With no normalizer, "normalized" and raw added tokens match the same text, so one
    // splitter over the input serves both kinds.
    for token in added { vocabulary[token.content] = token.id }
    self.vocabulary = vocabulary

    self.tokensById = try tokenTable(Dictionary(vocabulary.map { ($1, $0) }) { first, _ in first })

    var byteSymbolIds = [Int32](repeating: -1, count: 256)
    for byte in 0..<256 {
      let symbol = String(ByteLevelAlphabet.symbolForByte[byte])
      guard let id = vocabulary[symbol] else {
        throw TokenizerLoadError("BPE vocabulary lacks byte-level symbol '\(symbol)' for byte \(byte)")
      }
      byteSymbolIds[byte] = id
    }
    self.byteSymbolIds = byteSymbolIds

    let addedById = Dictionary(added.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    bytesById = tokensById.enumerated().map { id, token in
      if let addedToken = addedById[Int32(id)] { return Array(addedToken.content.utf8) }
      return ByteLevelAlphabet.bytes(of: token)
    }

    guard let mergeList = model["merges"] as? [Any] else { throw TokenizerLoadError("BPE model without 'merges'") }
    var merges: [PairKey: (rank: Int32, merged: Int32)] = [:]
    merges.reserveCapacity(mergeList.count)
    for (rank, entry) in mergeList.enumerated() {
      // Both formats tokenizers writes: "left right" (older) and ["left", "right"].
      let parts: [String]
      if let pair = entry as? [String] {
        parts = pair
      } else if let line = entry as? String {
        parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
      } else {
        throw TokenizerLoadError("BPE merge #\(rank) is neither a string nor a pair")
      }
      guard parts.count == 2, let left = vocabulary[parts[0]], let right = vocabulary[parts[1]],
        let merged = vocabulary[parts[0] + parts[1]]
      else { throw TokenizerLoadError("BPE merge #\(rank) \(parts) refers to tokens missing from the vocabulary") }
      let key = PairKey(left: left, right: right)
      if merges[key] == nil { merges[key] = (Int32(rank), merged) }
    }
    self.merges = merges
    splitter = AddedTokenSplitter(added)
    specialIds = Set(added.filter(\.special).map(\.id))
  }

  // MARK: Tokenizer

  public var vocabularySize: Int { tokensById.count }

  /// Ids as tokenizers' `encode(text)` returns them (the ByteLevel post-processor adds no
  /// tokens).
  public func encode(_ text: String) -> [Int32] { encode(text, addSpecialTokens: true, maxLength: nil) }

  public func bytes(of token: Int32) -> [UInt8] {
    token >= 0 && Int(token) < bytesById.count ? bytesById[Int(token)] : []
  }

  // MARK: HuggingFaceTokenizer

  public func token(of id: Int32) -> String? {
    id >= 0 && Int(id) < tokensById.count ? tokensById[Int(id)] : nil
  }

  public func id(of token: String) -> Int32? { vocabulary[token] }

  public func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int32] {
    var ids: [Int32] = []
    for segment in splitter.split(text) {
      switch segment {
      case .token(let id): ids.append(id)
      case .text(var piece):
        // ByteLevel::pre_tokenize's add_prefix_space, applied to each split as tokenizers does.
        if addPrefixSpace && !piece.hasPrefix(" ") { piece = " " + piece }
        let words = useRegex ? GPT2PreTokenizer.split(piece) : [Substring(piece)]
        for word in words { ids += encodeWord(word) }
      }
    }
    if let maxLength, ids.count > maxLength { ids.removeLast(ids.count - maxLength) }
    return ids
  }

  /// tokenizers' ByteLevel decoder: concatenate the tokens' bytes and read them as UTF-8,
  /// replacing invalid sequences with U+FFFD (String::from_utf8_lossy).
  public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
    var bytes: [UInt8] = []
    for id in ids where !(skipSpecialTokens && specialIds.contains(id)) { bytes += self.bytes(of: id) }
    return String(decoding: bytes, as: UTF8.self)
  }

  // MARK: BPE

  private func encodeWord(_ word: Substring) -> [Int32] {
    // Keyed by UTF-8 bytes: Substring equality is canonical equivalence, which would let
    // "e\u{301}" reuse the ids of "é".
    let key = Array(word.utf8)
    if let cached = cache.lookup(key) { return cached }
    let ids: [Int32]
    if ignoreMerges, let whole = vocabulary[ByteLevelAlphabet.symbols(of: word.utf8)] {
      ids = [whole]
    } else {
      ids = mergeWord(word.utf8.map { byteSymbolIds[Int($0)] })
    }
    cache.store(key, ids)
    return ids
  }

  /// Applies merges lowest rank first (leftmost on ties), as tokenizers' Word::merge_all:
  /// a min-heap of candidate pairs over a doubly linked list of symbols; entries made stale
  /// by an earlier merge are skipped when popped.
  private func mergeWord(_ initial: [Int32]) -> [Int32] {
    if initial.count < 2 { return initial }
    var symbols = initial
    var previous = Array(-1..<(initial.count - 1))
    var next = Array(1...initial.count)
    next[initial.count - 1] = -1
    var alive = [Bool](repeating: true, count: initial.count)
    var heap = MergeHeap()
    for position in 0..<(initial.count - 1) {
      if let merge = merges[PairKey(left: symbols[position], right: symbols[position + 1])] {
        heap.push(MergeCandidate(rank: merge.rank, position: Int32(position), left: symbols[position], right: symbols[position + 1]))
      }
    }
    while let candidate = heap.pop() {
      let position = Int(candidate.position)
      guard alive[position], symbols[position] == candidate.left else { continue }
      let rightPosition = next[position]
      guard rightPosition >= 0, symbols[rightPosition] == candidate.right,
        let merge = merges[PairKey(left: candidate.left, right: candidate.right)]
      else { continue }
      symbols[position] = merge.merged
      alive[rightPosition] = false
      let after = next[rightPosition]
      next[position] = after
      if after >= 0 { previous[after] = position }
      let before = previous[position]
      if before >= 0, let left = merges[PairKey(left: symbols[before], right: merge.merged)] {
        heap.push(MergeCandidate(rank: left.rank, position: Int32(before), left: symbols[before], right: merge.merged))
      }
      if after >= 0, let right = merges[PairKey(left: merge.merged, right: symbols[after])] {
        heap.push(MergeCandidate(rank: right.rank, position: Int32(position), left: merge.merged, right: symbols[after]))
      }
    }
    var result: [Int32] = []
    var position = 0
    while position >= 0 {
      result.append(symbols[position])
      position = next[position]
    }
    return result
  }
}

/// A pair of adjacent symbol ids.
struct PairKey: Hashable, Sendable {
  let left: Int32
  let right: Int32
}

/// A possible merge of the symbols at `position` and its right neighbour.
struct MergeCandidate {
  let rank: Int32
  let position: Int32
  let left: Int32
  let right: Int32

  /// Lower rank first; at equal rank the leftmost position, as tokenizers' Merge ordering.
  func precedes(_ other: MergeCandidate) -> Bool {
    rank != other.rank ? rank < other.rank : position < other.position
  }
}

/// A binary min-heap of merge candidates.
struct MergeHeap {
  private var items: [MergeCandidate] = []

  mutating func push(_ item: MergeCandidate) {
    items.append(item)
    var child = items.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard items[child].precedes(items[parent]) else { break }
      items.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> MergeCandidate? {
    guard !items.isEmpty else { return nil }
    items.swapAt(0, items.count - 1)
    let top = items.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1, right = left + 1
      var best = parent
      if left < items.count && items[left].precedes(items[best]) { best = left }
      if right < items.count && items[right].precedes(items[best]) { best = right }
      if best == parent { break }
      items.swapAt(parent, best)
      parent = best
    }
    return top
  }
}

/// Word → ids cache shared by copies of a tokenizer. Bounded like tokenizers' BPE cache
/// (which stops inserting at its capacity); here it is simply cleared when full.
final class BPEWordCache: Sendable {
  private static let capacity = 10_000
  private let storage = Mutex<[[UInt8]: [Int32]]>([:])

  func lookup(_ word: [UInt8]) -> [Int32]? { storage.withLock { $0[word] } }

  func store(_ word: [UInt8], _ ids: [Int32]) {
    storage.withLock { table in
      if table.count >= Self.capacity { table.removeAll(keepingCapacity: true) }
      table[word] = ids
    }
  }
}

/// GPT-2's bytes_to_unicode: printable Latin-1 bytes (! to ~, ¡ to ¬, ® to ÿ) stand for
/// themselves; the other 68 bytes map, in byte order, to U+0100 onwards (space → Ġ,
/// newline → Ċ), so every byte sequence is a string of visible characters.
enum ByteLevelAlphabet {
  static let symbolForByte: [Character] = {
    var symbols = [Character](repeating: " ", count: 256)
    var extra: UInt32 = 0
    for byte in 0..<256 {
      let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
      if printable {
        symbols[byte] = Character(Unicode.Scalar(UInt32(byte))!)
      } else {
        symbols[byte] = Character(Unicode.Scalar(256 + extra)!)
        extra += 1
      }
    }
    return symbols
  }()

  static let byteForScalar: [UInt32: UInt8] = {
    var table: [UInt32: UInt8] = [:]
    for (byte, symbol) in symbolForByte.enumerated() { table[symbol.unicodeScalars.first!.value] = UInt8(byte) }
    return table
  }()

  static func symbols<S: Sequence>(of bytes: S) -> String where S.Element == UInt8 {
    String(bytes.map { symbolForByte[Int($0)] })
  }

  /// The bytes a byte-level token stands for. Characters outside the alphabet (which a
  /// byte-level vocabulary should not contain) are kept as their own UTF-8, as the
  /// ByteLevel decoder does.
  static func bytes(of token: String) -> [UInt8] {
    var bytes: [UInt8] = []
    for scalar in token.unicodeScalars {
      if let byte = byteForScalar[scalar.value] {
        bytes.append(byte)
      } else {
        bytes += Array(String(scalar).utf8)
      }
    }
    return bytes
  }
}

/// The GPT-2 pre-tokenization regex that tokenizers' ByteLevel pre-tokenizer uses,
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// implemented by hand over Unicode scalars (tokenizers runs it with Oniguruma on code
/// points). NSRegularExpression is not used because its Linux implementation has differed
/// from Darwin's in Unicode property handling. \s is the Unicode White_Space property,
/// \p{L} the L* general categories, \p{N} Nd/Nl/No; the contractions are case-sensitive.
enum GPT2PreTokenizer {
  static func split(_ text: String) -> [Substring] {
    let scalars = text.unicodeScalars
    var pieces: [Substring] = []
    var start = scalars.startIndex
    while start < scalars.endIndex {
      let end = matchEnd(scalars, from: start)
      pieces.append(Substring(scalars[start..<end]))
      start = end
    }
    return pieces
  }

  private enum Class { case letter, number, space, other }

  private static func classify(_ scalar: Unicode.Scalar) -> Class {
    if scalar.properties.isWhitespace { return .space }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
  }

  /// End of the leftmost alternative that matches at `start` (always at least one scalar).
  private static func matchEnd(_ scalars: String.UnicodeScalarView, from start: String.UnicodeScalarIndex)
    -> String.UnicodeScalarIndex
  {
    let end = scalars.endIndex
    let first = scalars[start]
    // 's 't 're 've 'm 'll 'd
    if first == "'" {
      let afterQuote = scalars.index(after: start)
      for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
        var index = afterQuote
        var matched = true
        for expected in suffix.unicodeScalars {
          guard index < end, scalars[index] == expected else { matched = false; break }
          index = scalars.index(after: index)
        }
        if matched { return index }
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional single U+0020 then a run
    // of one class.
    var body = start
    if first == " " {
      let following = scalars.index(after: start)
      if following < end && classify(scalars[following]) != .space { body = following }
    }
    let bodyClass = classify(scalars[body])
    if bodyClass != .space {
      var index = scalars.index(after: body)
      while index < end && classify(scalars[index]) == bodyClass { index = scalars.index(after: index) }
      return index
    }
    // `\s+(?!\S)`: the whitespace run, minus its last character if a non-space follows
    // (backtracking), provided something remains; otherwise `\s+` takes the whole run.
    var runEnd = start
    var beforeRunEnd = start
    while runEnd < end && classify(scalars[runEnd]) == .space {
      beforeRunEnd = runEnd
      runEnd = scalars.index(after: runEnd)
    }
    if runEnd == end { return runEnd }
    if beforeRunEnd > start { return beforeRunEnd }
    return runEnd
  }
}
