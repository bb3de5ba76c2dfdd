import Foundation
import ZooCore
import ZooProto

/// Defaults applied when a request leaves an option unset (Ollama's defaults).
enum OptionDefaults {
  static let maxTokens: Int32 = 128
  static let temperature: Float = 0.8
  static let topK: Int32 = 40
  static let topP: Float = 0.9
}

/// What one request may carry, checked before a model is even looked up: far above any
/// real prompt or batch, and below the transport's hard limit on a message
/// (`ConnectionLimits.maxMessageBytes`), so an oversized request gets a sentence naming
/// the limit rather than a reset stream.
enum RequestLimits {
  static let textBytes = 4 << 20
  static let promptTokens = 1 << 20
  /// Decoder or middleware options per request, and bytes per value.
  static let options = 64
  static let optionBytes = 4096
  /// A tool-gating query (GateTools): a user's message, not a document.
  static let toolQueryBytes = 64 << 10
}

/// The checks a request passes before anything runs: sizes, common options, and the
/// options a decoder or middleware declares. Each refusal is INVALID_ARGUMENT (or
/// RESOURCE_EXHAUSTED for sizes) with a sentence naming what was wrong.
package enum RequestValidation {
  package static func checkSize(_ request: Zoo_V1_GenerateRequest) throws {
    let bytes =
      request.segments.reduce(request.prompt.utf8.count) { $0 + $1.text.utf8.count }
      + request.messages.reduce(0) { $0 + $1.role.utf8.count + $1.content.utf8.count }
    guard bytes <= RequestLimits.textBytes else {
      throw ZooError.resourceExhausted(
        "the prompt is \(bytes) bytes; zood takes at most \(RequestLimits.textBytes) bytes (4 MiB) of prompt per request")
    }
    let ids = request.segments.reduce(request.promptTokenIds.count) { $0 + $1.tokenIds.count }
    guard ids <= RequestLimits.promptTokens, request.segments.count <= RequestLimits.promptTokens else {
      throw ZooError.resourceExhausted(
        "the prompt has \(ids) ids in \(request.segments.count) segments; zood takes at most \(RequestLimits.promptTokens) of either per request")
    }
    for options in [request.options.decoderOptions] + request.middleware.map(\.options) {
      guard options.count <= RequestLimits.options, options.allSatisfy({ $0.key.utf8.count + $0.value.utf8.count <= RequestLimits.optionBytes }) else {
        throw ZooError.resourceExhausted(
          "at most \(RequestLimits.options) options per decoder or middleware, each at most \(RequestLimits.optionBytes) bytes")
      }
    }
  }

  /// A Score request's size and shape: text or ids (not both), logprobs in range.
  package static func check(_ request: Zoo_V1_ScoreRequest) throws {
    guard request.text.utf8.count <= RequestLimits.textBytes, request.tokenIds.count <= RequestLimits.promptTokens else {
      throw ZooError.resourceExhausted(
        "the text is \(request.text.utf8.count) bytes and \(request.tokenIds.count) ids; zood scores at most \(RequestLimits.textBytes) bytes (4 MiB) or \(RequestLimits.promptTokens) ids per request: split it")
    }
    guard request.text.isEmpty != request.tokenIds.isEmpty else {
      throw ZooError.invalidArgument("give exactly one of text and token_ids to score")
    }
    if request.hasLogprobs, !(0...20).contains(request.logprobs) {
      throw ZooError.invalidArgument("logprobs must be in 0...20; got \(request.logprobs)")
    }
    guard request.window >= 0 else { throw ZooError.invalidArgument("window must be >= 0 (0 = none); got \(request.window)") }
  }

  package static func checkSize(_ request: Zoo_V1_EmbedRequest) throws {
    let bytes = request.texts.reduce(0) { $0 + $1.utf8.count }
    guard bytes <= RequestLimits.textBytes else {
      throw ZooError.resourceExhausted(
        "the texts are \(bytes) bytes in all; zood takes at most \(RequestLimits.textBytes) bytes (4 MiB) per Embed request: split the batch")
    }
  }

  /// Checks the common options and fills every default, so decoders see concrete values.
  /// Decoder options are checked once the decoder is known (`checkedOptions`).
  package static func validate(_ o: Zoo_V1_GenerateOptions) throws -> Zoo_V1_GenerateOptions {
    var o = o
    func bad(_ m: String) -> ZooError { .invalidArgument(m) }
    guard (0...65536).contains(o.maxTokens) else { throw bad("max_tokens must be in 0...65536 (0 = \(OptionDefaults.maxTokens)); got \(o.maxTokens)") }
    if o.hasTemperature, !(o.temperature >= 0 && o.temperature <= 100) {
      throw bad("temperature must be in [0, 100] (0 = greedy); got \(o.temperature)")
    }
    if o.hasTopK, o.topK < 0 { throw bad("top_k must be >= 0 (0 = no limit); got \(o.topK)") }
    if o.hasTopP, !(o.topP > 0 && o.topP <= 1) { throw bad("top_p must be in (0, 1]; got \(o.topP)") }
    guard (0...20).contains(o.logprobs) else { throw bad("logprobs must be in 0...20; got \(o.logprobs)") }
    if o.hasPromptLogprobs, !(0...20).contains(o.promptLogprobs) {
      throw bad("prompt_logprobs must be in 0...20; got \(o.promptLogprobs)")
    }
    guard o.stop.count <= 16 else { throw bad("at most 16 stop strings; got \(o.stop.count)") }
    for s in o.stop where s.utf8.isEmpty || s.utf8.count > 256 {
      throw bad("each stop string must be 1...256 bytes; got one of \(s.utf8.count)")
    }
    if o.maxTokens == 0 { o.maxTokens = OptionDefaults.maxTokens }
    if !o.hasTemperature { o.temperature = OptionDefaults.temperature }
    if !o.hasTopK { o.topK = OptionDefaults.topK }
    if !o.hasTopP { o.topP = OptionDefaults.topP }
    if !o.hasSeed { o.seed = UInt64.random(in: .min ... .max) }
    return o
  }

  /// `given` checked against the fields `owner` declares (name, type, range, allowed
  /// values), with every declared default filled in. `owner` names the decoder or
  /// middleware in refusals.
  package static func checkedOptions(_ given: [String: String], declared: [Zoo_V1_ConfigField], owner: String) throws
    -> [String: String]
  {
    let byName = Dictionary(declared.map { ($0.name, $0) }) { first, _ in first }
    for key in given.keys.sorted() where byName[key] == nil {
      let known = declared.map(\.name).sorted()
      throw ZooError.invalidArgument(
        "\(owner) has no option '\(key.clipped())'; it takes \(known.isEmpty ? "no options" : known.joined(separator: ", "))")
    }
    var out: [String: String] = [:]
    for field in declared {
      if let value = given[field.name] {
        try check(value, against: field, owner: owner)
        out[field.name] = value
      } else if !field.defaultJson.isEmpty {
        out[field.name] = defaultText(field)
      } else if field.required {
        throw ZooError.invalidArgument("\(owner) needs option '\(field.name)' (\(describe(field)))")
      }
    }
    return out
  }

  /// A declared default as option text: JSON strings lose their quotes.
  private static func defaultText(_ field: Zoo_V1_ConfigField) -> String {
    if field.type == .string, let data = field.defaultJson.data(using: .utf8),
      let text = try? JSONDecoder().decode(String.self, from: data)
    {
      return text
    }
    return field.defaultJson
  }

  private static func check(_ value: String, against field: Zoo_V1_ConfigField, owner: String) throws {
    func refuse() -> ZooError {
      .invalidArgument("\(owner) option '\(field.name)' is '\(value.clipped())'; it takes \(describe(field))")
    }
    let lower = Double(field.minimum)
    let upper = Double(field.maximum)
    func inRange(_ x: Double) -> Bool { x.isFinite && (lower.map { x >= $0 } ?? true) && (upper.map { x <= $0 } ?? true) }
    func elements() -> [String] {
      value.trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces)
      }
    }
    switch field.type {
    case .int:
      guard let x = Int64(value), inRange(Double(x)) else { throw refuse() }
    case .float:
      guard let x = Double(value), inRange(x) else { throw refuse() }
    case .bool:
      guard value == "true" || value == "false" else { throw refuse() }
    case .string:
      guard field.allowed.isEmpty || field.allowed.contains(value) else { throw refuse() }
    case .intList:
      guard elements().allSatisfy({ Int64($0).map { inRange(Double($0)) } ?? false }) else { throw refuse() }
    case .floatList:
      guard elements().allSatisfy({ Double($0).map(inRange) ?? false }) else { throw refuse() }
    default:
      throw refuse()
    }
  }

  /// What a field takes, for refusals: "an integer in 1...512", "one of a, b".
  static func describe(_ field: Zoo_V1_ConfigField) -> String {
    let range =
      switch (field.minimum.isEmpty, field.maximum.isEmpty) {
      case (false, false): " in \(field.minimum)...\(field.maximum)"
      case (false, true): " >= \(field.minimum)"
      case (true, false): " <= \(field.maximum)"
      case (true, true): ""
      }
    switch field.type {
    case .int: return "an integer\(range)"
    case .float: return "a number\(range)"
    case .bool: return "true or false"
    case .string: return field.allowed.isEmpty ? "text" : "one of \(field.allowed.joined(separator: ", "))"
    case .intList: return "a comma-separated list of integers\(range)"
    case .floatList: return "a comma-separated list of numbers\(range)"
    default: return "a value of an unknown type"
    }
  }
}
