import Foundation

/// BERT's WordPiece tokenizer, reproducing Hugging Face `tokenizers` for a tokenizer.json
/// with BertNormalizer, BertPreTokenizer, a WordPiece model, a TemplateProcessing or
/// BertProcessing post-processor and a WordPiece decoder (e.g. all-MiniLM-L6-v2).
public struct WordPieceTokenizer: HuggingFaceTokenizer {
  /// Keyed by exact UTF-8 bytes: Swift `String` equality is canonical equivalence
  /// ("e\u{301}" == "é"), but tokenizers looks pieces up byte for byte.
  private let vocabulary: [[UInt8]: Int32]
  private let tokensById: [String]
  private let unknownId: Int32
  private let continuingPrefix: String
  private let maxInputCharsPerWord: Int
  private let normalizer: BertNormalizer?
  private let rawSplitter: AddedTokenSplitter
  private let normalizedSplitter: AddedTokenSplitter
  /// Ids put before / after the sequence by the post-processor.
  private let prefixIds: [Int32]
  private let suffixIds: [Int32]
  private let specialIds: Set<Int32>
  private let decoderPrefix: String
  private let decoderCleanup: Bool

  init(config: TokenizerJSONConfig) throws {
    guard let model = config.model else { throw TokenizerLoadError("tokenizer.json has no 'model'") }
    guard let vocab = model["vocab"] as? [String: Any] else {
      throw TokenizerLoadError("WordPiece model without a 'vocab' object")
    }
    var vocabulary: [[UInt8]: Int32] = [:]
    var tokensByIdTable: [Int32: String] = [:]
    for (token, value) in vocab {
      guard let id = tokenId(fromJSON: value) else {
        throw TokenizerLoadError("WordPiece vocab entry '\(token.clipped())' has no token id (an integer in 0...2147483647)")
      }
      vocabulary[Array(token.utf8)] = id
      tokensByIdTable[id] = token
    }
    let added = try config.parseAddedTokens()
    for token in added {
      vocabulary[Array(token.content.utf8)] = token.id
      tokensByIdTable[token.id] = token.content
    }
    self.vocabulary = vocabulary
    self.tokensById = try tokenTable(tokensByIdTable)

    let unknown = model["unk_token"] as? String ?? "[UNK]"
    guard let unknownId = vocabulary[Array(unknown.utf8)] else {
      throw TokenizerLoadError("WordPiece unk_token '\(unknown)' is not in the vocabulary")
    }
    self.unknownId = unknownId
    continuingPrefix = model["continuing_subword_prefix"] as? String ?? "##"
    maxInputCharsPerWord = (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100

    if let normalizer = config.normalizer {
      let type = try componentType(normalizer, role: "normalizer")
      guard type == "BertNormalizer" else { throw TokenizerLoadError("normalizer '\(type)' is not supported") }
      self.normalizer = BertNormalizer(
        cleanText: normalizer["clean_text"] as? Bool ?? true,
        handleChineseChars: normalizer["handle_chinese_chars"] as? Bool ?? true,
        stripAccents: normalizer["strip_accents"] as? Bool,
        lowercase: normalizer["lowercase"] as? Bool ?? true)
    } else {
      normalizer = nil
    }

    guard let preTokenizer = config.preTokenizer else {
      throw TokenizerLoadError("WordPiece without a pre_tokenizer is not supported (expected BertPreTokenizer)")
    }
    let preType = try componentType(preTokenizer, role: "pre_tokenizer")
    guard preType == "BertPreTokenizer" else {
      throw TokenizerLoadError("pre_tokenizer '\(preType)' is not supported with WordPiece")
    }

    rawSplitter = AddedTokenSplitter(added.filter { !$0.normalized })
    // tokenizers' AddedVocabulary matches a `normalized` added token by its normalized
    // content within the normalized text (so "[MASK]" under lowercasing matches "[mask]").
    normalizedSplitter = AddedTokenSplitter(
      added.filter { $0.normalized }.map { [normalizer] token in
        token.matching(normalizer?.normalize(token.content) ?? token.content)
      }.filter { !$0.content.isEmpty })

    (prefixIds, suffixIds) = try Self.parsePostProcessor(config.postProcessor)
    // The template's ids are added to every encoding: one outside the vocabulary would
    // reach the model as an id it has no embedding for.
    for id in prefixIds + suffixIds where Int(id) >= tokensById.count {
      throw TokenizerLoadError(
        "post_processor adds token id \(id), which is outside the vocabulary of \(tokensById.count) tokens")
    }
    specialIds = Set(added.filter(\.special).map(\.id))

    if let decoder = config.decoder {
      let type = try componentType(decoder, role: "decoder")
      guard type == "WordPiece" else { throw TokenizerLoadError("decoder '\(type)' is not supported with WordPiece") }
      decoderPrefix = decoder["prefix"] as? String ?? "##"
      decoderCleanup = decoder["cleanup"] as? Bool ?? true
    } else {
      throw TokenizerLoadError("WordPiece without a decoder is not supported (expected decoder 'WordPiece')")
    }
  }

  /// Extracts the single-sequence template: special-token ids before and after `$A`.
  private static func parsePostProcessor(_ processor: [String: Any]?) throws -> ([Int32], [Int32]) {
    guard let processor else { return ([], []) }
    let type = try componentType(processor, role: "post_processor")
    switch type {
    case "BertProcessing":
      // tokenizers' BertProcessing: [CLS] A [SEP], each given as [token, id].
      guard let cls = processor["cls"] as? [Any], cls.count == 2, let clsId = tokenId(fromJSON: cls[1]),
        let sep = processor["sep"] as? [Any], sep.count == 2, let sepId = tokenId(fromJSON: sep[1])
      else { throw TokenizerLoadError("post_processor 'BertProcessing' without cls/sep pairs") }
      return ([clsId], [sepId])
    case "TemplateProcessing":
      guard let single = processor["single"] as? [[String: Any]] else {
        throw TokenizerLoadError("post_processor 'TemplateProcessing' without a 'single' template")
      }
      let specials = processor["special_tokens"] as? [String: Any] ?? [:]
      var before: [Int32] = [], after: [Int32] = []
      var seenSequence = false
      for piece in single {
        if let sequence = piece["Sequence"] as? [String: Any] {
          guard sequence["id"] as? String == "A", !seenSequence else {
            throw TokenizerLoadError("post_processor 'TemplateProcessing' single template with sequence '\(sequence["id"] ?? "?")' is not supported")
          }
          seenSequence = true
        } else if let special = piece["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
          guard let entry = specials[name] as? [String: Any],
            let list = entry["ids"] as? [Any], case let ids = list.compactMap({ tokenId(fromJSON: $0) }),
            ids.count == list.count
          else { throw TokenizerLoadError("post_processor 'TemplateProcessing': special token '\(name)' has no ids") }
          if seenSequence { after += ids } else { before += ids }
        } else {
          throw TokenizerLoadError("post_processor 'TemplateProcessing': unknown template piece \(piece)")
        }
      }
      guard seenSequence else { throw TokenizerLoadError("post_processor 'TemplateProcessing' single template has no $A") }
      return (before, after)
    default:
      throw TokenizerLoadError("post_processor '\(type)' is not supported with WordPiece")
    }
  }

  // MARK: Tokenizer

  public var vocabularySize: Int { tokensById.count }

  /// Ids with the special tokens added and no truncation (tokenizers' default
  /// `encode(text)`).
  public func encode(_ text: String) -> [Int32] { encode(text, addSpecialTokens: true, maxLength: nil) }

  /// The UTF-8 of a token as it reads inside decoded text: a continuation piece without its
  /// `##`, a word-initial piece with a leading space. Use `decode(_:skipSpecialTokens:)`
  /// for tokenizers-exact text.
  public func bytes(of token: Int32) -> [UInt8] {
    guard let string = self.token(of: token) else { return [] }
    let utf8 = Array(string.utf8)
    if utf8.starts(with: decoderPrefix.utf8) { return Array(utf8.dropFirst(decoderPrefix.utf8.count)) }
    return [UInt8(ascii: " ")] + utf8
  }

  // MARK: HuggingFaceTokenizer

  public func token(of id: Int32) -> String? {
    id >= 0 && Int(id) < tokensById.count ? tokensById[Int(id)] : nil
  }

  public func id(of token: String) -> Int32? { vocabulary[Array(token.utf8)] }

  public func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int32] {
    var ids: [Int32] = []
    for segment in rawSplitter.split(text) {
      switch segment {
      case .token(let id): ids.append(id)
      case .text(let raw):
        let normalized = normalizer?.normalize(raw) ?? raw
        for inner in normalizedSplitter.split(normalized) {
          switch inner {
          case .token(let id): ids.append(id)
          case .text(let piece):
            for word in BertPreTokenizer.split(piece) { appendWordPieces(of: word, to: &ids) }
          }
        }
      }
    }
    // tokenizers truncates the sequence first, keeping room for the tokens the
    // post-processor adds (TruncationParams with added_tokens subtracted).
    let added = addSpecialTokens ? prefixIds.count + suffixIds.count : 0
    if let maxLength {
      let room = max(0, maxLength - added)
      if ids.count > room { ids.removeLast(ids.count - room) }
    }
    return addSpecialTokens ? prefixIds + ids + suffixIds : ids
  }

  /// tokenizers' WordPiece decoder: pieces joined by spaces, continuation pieces glued to
  /// the previous one, then (with `cleanup`) the BERT clean-up of spaces before punctuation
  /// and contractions.
  public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
    var output = ""
    var first = true
    for id in ids {
      if skipSpecialTokens && specialIds.contains(id) { continue }
      guard var piece = token(of: id) else { continue }
      // Compared as scalars: `hasPrefix` works on grapheme clusters, and "##" followed by a
      // combining mark ("##ि") does not start with the cluster "#".
      if !first && piece.unicodeScalars.starts(with: decoderPrefix.unicodeScalars) {
        piece = String(piece.unicodeScalars.dropFirst(decoderPrefix.unicodeScalars.count))
      } else if !first {
        piece = " " + piece
      }
      if decoderCleanup { piece = Self.cleanup(piece) }
      output += piece
      first = false
    }
    return output
  }

  /// tokenizers' decoders::wordpiece::cleanup, applied per piece.
  private static func cleanup(_ text: String) -> String {
    var result = text
    for (from, to) in [
      (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
      (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ] {
      result = result.replacingOccurrences(of: from, with: to)
    }
    return result
  }

  /// WordPiece: greedy longest-match-first from the left, continuation pieces carry the
  /// `##` prefix; a word with any unmatchable remainder, or longer than
  /// max_input_chars_per_word characters, becomes the single unknown token (as tokenizers'
  /// WordPiece::tokenize).
  private func appendWordPieces(of word: [Unicode.Scalar], to ids: inout [Int32]) {
    if word.count > maxInputCharsPerWord {
      ids.append(unknownId)
      return
    }
    // Byte offset of each scalar, so candidates are byte slices of the word's UTF-8.
    let utf8 = Array(AddedTokenSplitter.string(word).utf8)
    var offsets = [0]
    for scalar in word { offsets.append(offsets.last! + UTF8.width(scalar)) }
    let prefix = Array(continuingPrefix.utf8)
    var pieces: [Int32] = []
    var start = 0
    while start < word.count {
      var end = word.count
      var found: Int32?
      while end > start {
        let slice = utf8[offsets[start]..<offsets[end]]
        let candidate = start > 0 ? prefix + slice : Array(slice)
        if let id = vocabulary[candidate] {
          found = id
          break
        }
        end -= 1
      }
      guard let found else {
        ids.append(unknownId)
        return
      }
      pieces.append(found)
      start = end
    }
    ids += pieces
  }
}

/// tokenizers' BertNormalizer: clean text, space out CJK ideographs, strip accents,
/// lowercase, in that order.
struct BertNormalizer: Sendable {
  let cleanText: Bool
  let handleChineseChars: Bool
  /// nil means "follow `lowercase`", as in tokenizers.
  let stripAccents: Bool?
  let lowercase: Bool

  func normalize(_ text: String) -> String {
    var scalars = Array(text.unicodeScalars)
    if cleanText {
      // BertNormalizer::do_clean_text: drop NUL, U+FFFD and "control" characters (general
      // category C*: Cc, Cf, Cn, Co, Cs, except \t \n \r), and turn whitespace into ' '.
      scalars = scalars.compactMap { scalar in
        if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { return nil }
        return Self.isWhitespace(scalar) ? " " : scalar
      }
    }
    if handleChineseChars {
      // BertNormalizer::do_handle_chinese_chars: each CJK ideograph becomes " c ".
      var spaced: [Unicode.Scalar] = []
      spaced.reserveCapacity(scalars.count)
      for scalar in scalars {
        if Self.isChineseCharacter(scalar) {
          spaced += [" ", scalar, " "]
        } else {
          spaced.append(scalar)
        }
      }
      scalars = spaced
    }
    var string = AddedTokenSplitter.string(scalars)
    if stripAccents ?? lowercase {
      // BertNormalizer::do_strip_accents: NFD, then remove nonspacing marks (Mn).
      string = AddedTokenSplitter.string(
        string.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
          !($0.properties.generalCategory == .nonspacingMark && Unicode8.contains($0))
        })
    }
    if lowercase {
      // Rust's char::to_lowercase: full, context-free per-character mapping.
      var lowered = String.UnicodeScalarView()
      for scalar in string.unicodeScalars {
        lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
      }
      string = String(lowered)
    }
    return string
  }

  static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace
  }

  static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
    switch scalar.properties.generalCategory {
    case .control, .format, .privateUse, .surrogate: return Unicode8.contains(scalar)
    // tokenizers' table for unassigned code points matches nothing in practice: U+0378 and
    // U+FFFF survive clean_text in tokenizers 0.23.3, so unassigned scalars are kept.
    default: return false
    }
  }

  /// The CJK ranges of tokenizers' BertNormalizer (is_chinese_char), including its
  /// 0x2B920 start for the Extension E/F block.
  static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
      0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
      return true
    default: return false
    }
  }
}

/// tokenizers' BertPreTokenizer: split on whitespace (removed), then isolate every
/// punctuation character (ASCII punctuation, which includes symbols like `$` and `+`, or
/// Unicode categories Pc, Pd, Ps, Pe, Pi, Pf, Po).
enum BertPreTokenizer {
  static func split(_ text: String) -> [[Unicode.Scalar]] {
    var words: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []
    for scalar in text.unicodeScalars {
      if BertNormalizer.isWhitespace(scalar) {
        if !current.isEmpty { words.append(current); current = [] }
      } else if isPunctuation(scalar) {
        if !current.isEmpty { words.append(current); current = [] }
        words.append([scalar])
      } else {
        current.append(scalar)
      }
    }
    if !current.isEmpty { words.append(current) }
    return words
  }

  static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
    if scalar.isASCII {
      let value = scalar.value
      return (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value) || (0x5B...0x60).contains(value)
        || (0x7B...0x7E).contains(value)
    }
    switch scalar.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
      .initialPunctuation, .finalPunctuation, .otherPunctuation:
      return Unicode8.contains(scalar)
    default: return false
    }
  }
}

/// tokenizers' BERT components classify characters with the `unicode_categories` crate,
/// whose tables are Unicode 8.0: a punctuation, format or nonspacing-mark character added
/// later (e.g. U+2E43, Po since 9.0) is treated as an ordinary character (checked against
/// tokenizers 0.23.3). Swift's tables are newer, so categories are gated on the scalar's age.
/// (Whitespace and lowercasing use Rust's std tables, which are current, as Swift's are.)
enum Unicode8 {
  static func contains(_ scalar: Unicode.Scalar) -> Bool {
    guard let age = scalar.properties.age else { return false }
    return age.major < 8 || (age.major == 8 && age.minor == 0)
  }
}
