import CZooPlugin
import ZooCore
import ZooProto

/// The generated tokens as a decoder places them (zoo_token_event), and the text the
/// client may see: only the committed prefix becomes text, runs through the stop-string
/// matcher, and ends at an end-of-sequence token or at max_tokens. This is where zood
/// decides that a generation has what it needs; `GenerationRun` only reports it.
struct GeneratedSequence {
  /// Why the committed text says generation is over.
  enum Ending { case stopString, eos, maxTokens }

  /// A decoder event that breaks the contract in zoo_plugin.h.
  struct ContractViolation: Error { let message: String }

  /// What one event released for the client.
  struct Release {
    var text = ""
    var tokenIDs: [Int32] = []
    var logprobs: [Zoo_V1_TokenLogprobs] = []
  }

  private var tokens: [Int32?] = []
  private var logprobs: [Zoo_V1_TokenLogprobs?] = []
  /// Positions [0, committed) are final and have been released.
  private(set) var committed = 0
  /// Committed tokens that became text (an end-of-sequence token does not).
  private(set) var textTokens = 0
  private(set) var ending: Ending?
  private var text: TextStream
  private let maxTokens: Int
  private let eos: Set<Int32>
  private let tokenizer: (any Tokenizer)?
  private let wantsLogprobs: Bool
  /// Tokens of a template to fill (GenerateRequest.segments) that start the sequence.
  private let templateCount: Int

  /// A sequence that starts empty, or with a template's tokens placed and not yet
  /// committed (a decoder that fills gaps inserts among them); max_tokens counts only
  /// what the decoder adds.
  init(options: Zoo_V1_GenerateOptions, eos: [Int32], tokenizer: (any Tokenizer)?, template: [Int32] = []) {
    text = TextStream(stopStrings: options.stop)
    templateCount = template.count
    maxTokens = Int(options.maxTokens) + template.count
    self.eos = Set(eos)
    self.tokenizer = tokenizer
    wantsLogprobs = options.logprobs > 0
    tokens = template
    logprobs = Array(repeating: nil, count: template.count)
  }

  /// Committed tokens the decoder added (textTokens without the template's).
  var generatedTokens: Int { max(0, textTokens - templateCount) }

  /// Places one token. Positions count generated tokens from 0 (and the template's first).
  mutating func place(_ op: zoo_token_op, position: Int, token: Int32, logprobs entry: Zoo_V1_TokenLogprobs?) throws {
    func violation(_ m: String) -> ContractViolation { ContractViolation(message: m) }
    switch op {
    case ZOO_TOKEN_APPEND:
      guard tokens.count < maxTokens else { throw violation("appended a token past max_tokens (\(maxTokens))") }
      tokens.append(token)
      logprobs.append(entry)
    case ZOO_TOKEN_SET:
      guard position >= committed, position < maxTokens else {
        throw violation(
          position < committed
            ? "set position \(position), which is already committed (committed: \(committed))"
            : "set position \(position), past max_tokens (\(maxTokens))")
      }
      if position >= tokens.count {
        tokens += Array(repeating: nil, count: position + 1 - tokens.count)
        logprobs += Array(repeating: nil, count: position + 1 - logprobs.count)
      }
      tokens[position] = token
      logprobs[position] = entry
    case ZOO_TOKEN_INSERT:
      guard position >= committed, position <= tokens.count, tokens.count < maxTokens else {
        throw violation(
          position < committed
            ? "inserted at position \(position), inside the committed text (committed: \(committed))"
            : position > tokens.count
              ? "inserted at position \(position), past the end (\(tokens.count) tokens)"
              : "inserted a token past max_tokens (\(maxTokens))")
      }
      tokens.insert(token, at: position)
      logprobs.insert(entry, at: position)
    default:
      throw violation("used an unknown token op \(op.rawValue)")
    }
  }

  /// Commits positions [0, upTo) and releases what they add to the text, up to the
  /// first end-of-sequence token, stop string or max_tokens. A smaller mark changes
  /// nothing.
  mutating func commit(upTo end: Int) throws -> Release {
    var release = Release()
    guard end > committed, ending == nil else { return release }
    guard end <= tokens.count else {
      throw ContractViolation(message: "committed \(end) positions but placed only \(tokens.count)")
    }
    for position in committed..<end {
      guard let token = tokens[position] else {
        throw ContractViolation(message: "committed position \(position), which was never set")
      }
      committed = position + 1
      if eos.contains(token) {
        ending = .eos
        break
      }
      textTokens += 1
      release.tokenIDs.append(token)
      if wantsLogprobs, let entry = logprobs[position] { release.logprobs.append(entry) }
      if let tokenizer { release.text += text.append(tokenizer.bytes(of: token)) }
      if text.stopped {
        ending = .stopString
        break
      }
      if textTokens == maxTokens {
        ending = .maxTokens
        break
      }
    }
    return release
  }

  /// Commits everything placed (the decoder returned ZOO_OK).
  mutating func commitAll() throws -> Release { try commit(upTo: tokens.count) }

  /// The text still held back (a partial stop-string match, an incomplete character),
  /// released when generation ends normally.
  mutating func finishText() -> String { text.finish() }
}
