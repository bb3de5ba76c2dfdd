import Foundation

// Loading Hugging Face `tokenizers` files (tokenizer.json) into exact re-implementations.
//
// Only the configurations reproduced bit-for-bit here are accepted; everything else is
// refused with an error naming the component, so nothing silently tokenizes differently
// from the Python/Rust library. Supported today:
//   - BERT-style WordPiece (BertNormalizer, BertPreTokenizer, WordPiece,
//     TemplateProcessing/BertProcessing, WordPiece decoder): `WordPieceTokenizer`.
//   - GPT-2-style byte-level BPE (no normalizer, ByteLevel pre-tokenizer, BPE,
//     ByteLevel post-processor and decoder): `ByteLevelBPETokenizer`.
//
// The file's `truncation` and `padding` sections are deliberately not applied: the caller
// chooses the maximum length per call (sentence-transformers, for instance, truncates
// all-MiniLM-L6-v2 at 256 although its tokenizer.json records 128), and padding is the
// batcher's concern.

/// A tokenizer.json that cannot be loaded, or that asks for behaviour this implementation
/// does not reproduce exactly.
public struct TokenizerLoadError: Error, CustomStringConvertible, Sendable {
  /// Human-readable reason, naming the unsupported component when there is one.
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A tokenizer that follows Hugging Face `tokenizers`' full pipeline: added tokens,
/// special-token post-processing, truncation and decoding.
public protocol HuggingFaceTokenizer: Tokenizer {
  /// Token ids as `tokenizers`' `Tokenizer.encode(text, add_special_tokens)` returns them,
  /// truncated (before the special tokens are added, as `tokenizers` does) so the result
  /// has at most `maxLength` ids including the special tokens.
  func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int32]
  /// Text as `tokenizers`' `Tokenizer.decode(ids, skip_special_tokens)` returns it.
  func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String
  /// The vocabulary string of an id, or nil if the id is out of range.
  func token(of id: Int32) -> String?
  /// The id of a vocabulary string (including added tokens), or nil.
  func id(of token: String) -> Int32?
}

/// Loads a Hugging Face `tokenizer.json` and returns the matching exact tokenizer.
///
/// - Throws: `TokenizerLoadError` if the file is unreadable, malformed, or configures a
///   normalizer, pre-tokenizer, model, post-processor or decoder that is not reproduced
///   exactly (the message names it, e.g. "normalizer 'NFKC'").
public func loadTokenizer(path: String) throws -> any HuggingFaceTokenizer {
  let data: Data
  do {
    data = try RegularFile.contents(path, limit: maxTokenizerBytes)
  } catch {
    throw TokenizerLoadError("cannot read tokenizer file '\(path)': \(error)")
  }
  return try loadTokenizer(jsonData: data)
}

/// The largest tokenizer.json zoo reads: the biggest real ones are tens of MB.
let maxTokenizerBytes = 512 << 20

/// The token strings indexed by id, from id → token. Refuses a vocabulary whose largest
/// id is far beyond its number of entries: the table is as long as the largest id, so one
/// entry with id 2147483647 would ask for 34 GB. Real vocabularies are dense (added
/// tokens sit just past the model's), so twice the entries plus 1024 is ample.
func tokenTable(_ byId: [Int32: String]) throws -> [String] {
  guard let largest = byId.max(by: { $0.key < $1.key }) else { return [] }
  guard Int(largest.key) < 2 * byId.count + 1024 else {
    throw TokenizerLoadError(
      "token id \(largest.key) ('\(largest.value.clipped())') is far beyond the vocabulary's \(byId.count) entries; zoo needs ids numbered from 0 without large gaps")
  }
  var table = [String](repeating: "", count: Int(largest.key) + 1)
  for (id, token) in byId { table[Int(id)] = token }
  return table
}

/// Loads a tokenizer from the bytes of a `tokenizer.json` file. See `loadTokenizer(path:)`.
public func loadTokenizer(jsonData: Data) throws -> any HuggingFaceTokenizer {
  let root: [String: Any]
  do {
    guard let object = try JSONSerialization.jsonObject(with: jsonData) as? [String: Any] else {
      throw TokenizerLoadError("tokenizer.json: top level is not an object")
    }
    root = object
  } catch let error as TokenizerLoadError {
    throw error
  } catch {
    throw TokenizerLoadError("tokenizer.json is not valid JSON: \(error)")
  }
  let config = TokenizerJSONConfig(root)
  guard let model = config.model else { throw TokenizerLoadError("tokenizer.json has no 'model'") }
  let modelType = model["type"] as? String ?? inferModelType(model)
  switch modelType {
  case "WordPiece": return try WordPieceTokenizer(config: config)
  case "BPE": return try ByteLevelBPETokenizer(config: config)
  default: throw TokenizerLoadError("model '\(modelType)' is not supported")
  }
}

/// Older tokenizer.json files omit `model.type`; `tokenizers` then recognises the model by
/// its fields (merges → BPE, continuing_subword_prefix → WordPiece).
private func inferModelType(_ model: [String: Any]) -> String {
  if model["merges"] != nil { return "BPE" }
  if model["continuing_subword_prefix"] != nil || model["max_input_chars_per_word"] != nil {
    return "WordPiece"
  }
  return "unknown"
}

/// The top-level sections of a tokenizer.json, untyped; each tokenizer validates the parts
/// it uses.
struct TokenizerJSONConfig {
  let normalizer: [String: Any]?
  let preTokenizer: [String: Any]?
  let model: [String: Any]?
  let postProcessor: [String: Any]?
  let decoder: [String: Any]?
  let addedTokens: [[String: Any]]

  init(_ root: [String: Any]) {
    normalizer = root["normalizer"] as? [String: Any]
    preTokenizer = root["pre_tokenizer"] as? [String: Any]
    model = root["model"] as? [String: Any]
    postProcessor = root["post_processor"] as? [String: Any]
    decoder = root["decoder"] as? [String: Any]
    addedTokens = root["added_tokens"] as? [[String: Any]] ?? []
  }

  /// Parses `added_tokens`, refusing entries it cannot interpret.
  func parseAddedTokens() throws -> [AddedToken] {
    try addedTokens.map { entry in
      guard let id = tokenId(fromJSON: entry["id"]), let content = entry["content"] as? String, !content.isEmpty
      else { throw TokenizerLoadError("added_tokens: an entry without a token id or content: \("\(entry)".clipped())") }
      return AddedToken(
        content: content, id: id,
        singleWord: entry["single_word"] as? Bool ?? false,
        leftStrip: entry["lstrip"] as? Bool ?? false,
        rightStrip: entry["rstrip"] as? Bool ?? false,
        normalized: entry["normalized"] as? Bool ?? true,
        special: entry["special"] as? Bool ?? false)
    }
  }
}

/// Reads a component's "type", or reports the component as unsupported.
func componentType(_ component: [String: Any], role: String) throws -> String {
  guard let type = component["type"] as? String else {
    throw TokenizerLoadError("\(role) without a 'type' is not supported")
  }
  return type
}

/// One entry of tokenizer.json's `added_tokens`, with the matching flags `tokenizers`'
/// AddedVocabulary honours.
struct AddedToken: Sendable {
  /// The same token with its matched text replaced, e.g. by its normalized form.
  func matching(_ newContent: String) -> AddedToken {
    AddedToken(
      content: newContent, id: id, singleWord: singleWord, leftStrip: leftStrip, rightStrip: rightStrip,
      normalized: normalized, special: special)
  }

  let content: String
  let id: Int32
  /// Only match when not glued to word characters on either side.
  let singleWord: Bool
  /// Swallow whitespace on the left / right of a match.
  let leftStrip: Bool
  let rightStrip: Bool
  /// Matched against the normalized text (true) or the raw input (false).
  let normalized: Bool
  /// Dropped by `decode(skipSpecialTokens: true)`.
  let special: Bool
}

/// A piece of input after added tokens are split out: either plain text that still goes
/// through the normal pipeline, or an added token's id.
enum AddedTokenSegment: Equatable {
  case text(String)
  case token(Int32)
}

/// Finds added tokens in text the way `tokenizers`' AddedVocabulary::find_matches does:
/// non-overlapping, leftmost-longest matches; a single_word match glued to a word character
/// is rejected (its text stays ordinary text); lstrip/rstrip make the match absorb adjacent
/// whitespace, which then disappears from the text.
struct AddedTokenSplitter: Sendable {
  private let patterns: [(scalars: [Unicode.Scalar], token: AddedToken)]

  init(_ tokens: [AddedToken]) {
    // Longest first, so the first pattern that matches at a position is the longest.
    patterns = tokens.map { (Array($0.content.unicodeScalars), $0) }
      .sorted { $0.scalars.count > $1.scalars.count }
  }

  var isEmpty: Bool { patterns.isEmpty }

  func split(_ text: String) -> [AddedTokenSegment] {
    if patterns.isEmpty || text.isEmpty { return text.isEmpty ? [] : [.text(text)] }
    let scalars = Array(text.unicodeScalars)
    var segments: [AddedTokenSegment] = []
    var pendingStart = 0  // start of the text not yet emitted
    var position = 0
    while position < scalars.count {
      guard let match = longestMatch(in: scalars, at: position) else {
        position += 1
        continue
      }
      let end = position + match.scalars.count
      if match.token.singleWord {
        let gluedLeft = position > 0 && Self.isWordCharacter(scalars[position - 1])
        let gluedRight = end < scalars.count && Self.isWordCharacter(scalars[end])
        if gluedLeft || gluedRight {
          position = end  // rejected: the matched text stays ordinary text
          continue
        }
      }
      var textEnd = position
      if match.token.leftStrip {
        while textEnd > pendingStart && scalars[textEnd - 1].properties.isWhitespace { textEnd -= 1 }
      }
      var matchEnd = end
      if match.token.rightStrip {
        while matchEnd < scalars.count && scalars[matchEnd].properties.isWhitespace { matchEnd += 1 }
      }
      if textEnd > pendingStart {
        segments.append(.text(Self.string(scalars[pendingStart..<textEnd])))
      }
      segments.append(.token(match.token.id))
      pendingStart = matchEnd
      position = matchEnd
    }
    if pendingStart < scalars.count {
      segments.append(.text(Self.string(scalars[pendingStart..<scalars.count])))
    }
    return segments
  }

  private func longestMatch(in scalars: [Unicode.Scalar], at position: Int) -> (
    scalars: [Unicode.Scalar], token: AddedToken
  )? {
    for pattern in patterns where position + pattern.scalars.count <= scalars.count {
      var matches = true
      for (offset, scalar) in pattern.scalars.enumerated() where scalars[position + offset] != scalar {
        matches = false
        break
      }
      if matches { return pattern }
    }
    return nil
  }

  /// Word characters for single_word, as Unicode regex `\w`: Alphabetic, marks, decimal
  /// digits, connector punctuation ('_') and joiners. (tokenizers 0.23.3 rejects "cat" in
  /// "écat", "٣cat" and "cat\u{301}".)
  private static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
    let properties = scalar.properties
    if properties.isAlphabetic || properties.isJoinControl { return true }
    switch properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
  }

  static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
  }
}
