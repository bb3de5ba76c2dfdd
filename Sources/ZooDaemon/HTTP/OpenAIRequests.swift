import Foundation
import ZooProto

/// The bodies of OpenAI's requests that zood serves. Fields zood does not use are ignored, as OpenAI's own server
/// and llama.cpp's do; fields that would change the answer in a way zood cannot honour
/// (`n` > 1, penalties, `logit_bias`, `suffix`) are refused by `unsupported`.
struct CompletionRequest: Decodable {
  var model: String
  var prompt: Prompt
  var maxTokens: Int?
  var temperature: Float?
  var topP: Float?
  var seed: Int64?
  var stop: Stop?
  var logprobs: Int?
  var stream: Bool?
  var streamOptions: StreamOptions?
  var n: Int?
  var bestOf: Int?
  var echo: Bool?
  var suffix: String?
  var presencePenalty: Double?
  var frequencyPenalty: Double?
  var logitBias: [String: Double]?
  /// vLLM's: the prompt tokens' logprobs with this many alternatives each.
  var promptLogprobs: Int?
  // zoo's own, as extra body fields (the openai package's `extra_body`).
  var topK: Int?
  var decoder: String?
  var decoderOptions: [String: Scalar]?

  // Spelled out: a key strategy would also rename the keys of `decoder_options`.
  enum CodingKeys: String, CodingKey {
    case model, prompt, temperature, seed, stop, logprobs, stream, n, echo, suffix, decoder
    case maxTokens = "max_tokens", topP = "top_p", streamOptions = "stream_options", bestOf = "best_of"
    case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty", logitBias = "logit_bias"
    case topK = "top_k", decoderOptions = "decoder_options", promptLogprobs = "prompt_logprobs"
  }

  struct StreamOptions: Decodable {
    var includeUsage: Bool?
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
  }

  /// A prompt: text, or token ids; OpenAI also takes a list of them, of which zood
  /// serves one per request (`n` = 1).
  enum Prompt: Decodable {
    case text(String)
    case tokens([Int32])

    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let s = try? c.decode(String.self) { self = .text(s); return }
      if let ids = try? c.decode([Int32].self) { self = .tokens(ids); return }
      if let texts = try? c.decode([String].self), texts.count == 1 { self = .text(texts[0]); return }
      if let lists = try? c.decode([[Int32]].self), lists.count == 1 { self = .tokens(lists[0]); return }
      throw OpenAIError(
        .badRequest, "prompt must be a string, a list of token ids, or a list of one of either (zood serves one prompt per request)",
        param: "prompt")
    }
  }

  /// `stop`: one string or a list.
  struct Stop: Decodable {
    var strings: [String]
    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let one = try? c.decode(String.self) { strings = [one] } else { strings = try c.decode([String].self) }
    }
  }

  /// A decoder option's value as the client wrote it: text, a number or a boolean.
  struct Scalar: Decodable {
    var text: String
    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let b = try? c.decode(Bool.self) {
        text = b ? "true" : "false"
      } else if let i = try? c.decode(Int64.self) {
        text = "\(i)"
      } else if let d = try? c.decode(Double.self) {
        text = "\(d)"
      } else {
        text = try c.decode(String.self)
      }
    }
  }

  /// Options OpenAI defines that zood does not serve, as a sentence; nil when none is set.
  var unsupported: OpenAIError? {
    if let n, n != 1 { return OpenAIError(.badRequest, "n must be 1: zood returns one completion per request; send n requests", param: "n") }
    if let bestOf, bestOf != 1 { return OpenAIError(.badRequest, "best_of must be 1", param: "best_of") }
    if let suffix, !suffix.isEmpty {
      return OpenAIError(.badRequest, "suffix is not supported; for infilling use zoo's gRPC API with prompt segments and an infilling decoder", param: "suffix")
    }
    if (presencePenalty ?? 0) != 0 || (frequencyPenalty ?? 0) != 0 {
      return OpenAIError(.badRequest, "presence_penalty and frequency_penalty are not supported: leave them at 0", param: presencePenalty != 0 ? "presence_penalty" : "frequency_penalty")
    }
    if let logitBias, !logitBias.isEmpty { return OpenAIError(.badRequest, "logit_bias is not supported", param: "logit_bias") }
    if let logprobs, !(0...20).contains(logprobs) {
      return OpenAIError(.badRequest, "logprobs must be 0...20 (top alternatives per token)", param: "logprobs")
    }
    if let promptLogprobs, !(0...20).contains(promptLogprobs) {
      return OpenAIError(.badRequest, "prompt_logprobs must be 0...20 (top alternatives per prompt token)", param: "prompt_logprobs")
    }
    if let maxTokens, maxTokens < (echo == true ? 0 : 1) {
      return OpenAIError(
        .badRequest, "max_tokens must be at least 1 (0 only with echo, to score the prompt alone)", param: "max_tokens")
    }
    return nil
  }

  /// Whether only the prompt is scored (echo with max_tokens 0, as lm-evaluation-harness
  /// asks for log-likelihoods), with no generation.
  var scoresPromptOnly: Bool { echo == true && maxTokens == 0 }

  /// Alternatives per prompt token when the prompt must be scored: for vLLM's
  /// prompt_logprobs, or for echo with logprobs (and echo of token ids, whose text only
  /// the scoring gives); nil when it need not be.
  var promptScoreAlternatives: Int? {
    var alternatives = promptLogprobs
    if echo == true {
      if let logprobs { alternatives = max(alternatives ?? 0, logprobs) }
      if case .tokens = prompt { alternatives = alternatives ?? 0 }
    }
    return alternatives
  }

  /// The Score request behind `scoresPromptOnly`.
  var scoreRequest: Zoo_V1_ScoreRequest {
    .with { r in
      r.model = model
      switch prompt {
      case .text(let s): r.text = s
      case .tokens(let ids): r.tokenIds = ids
      }
      r.logprobs = Int32(promptScoreAlternatives ?? 0)
    }
  }

  /// The zoo.v1 request. Unset sampling options take OpenAI's defaults (temperature 1,
  /// top_p 1, no top-k, 16 tokens), not zood's, so a client gets what it would from OpenAI;
  /// zood checks every value as it does for gRPC.
  var generateRequest: Zoo_V1_GenerateRequest {
    .with { r in
      r.model = model
      switch prompt {
      case .text(let s): r.prompt = s
      case .tokens(let ids): r.promptTokenIds = ids
      }
      r.options = .with { o in
        o.maxTokens = Int32(clamping: maxTokens ?? 16)
        o.temperature = temperature ?? 1
        o.topP = topP ?? 1
        o.topK = Int32(clamping: topK ?? 0)
        if let seed { o.seed = UInt64(bitPattern: seed) }
        o.stop = stop?.strings ?? []
        // OpenAI's logprobs=0 still returns the chosen tokens' logprobs; zood's 0 returns none.
        if let logprobs { o.logprobs = Int32(max(1, logprobs)) }
        if let promptScoreAlternatives { o.promptLogprobs = Int32(promptScoreAlternatives) }
        o.decoder = decoder ?? ""
        o.decoderOptions = decoderOptions?.mapValues(\.text) ?? [:]
      }
    }
  }

  /// The prompt's text to echo when it is text (token ids get theirs from the scoring).
  var echoedText: String? {
    guard echo == true, case .text(let s) = prompt else { return nil }
    return s
  }
}

/// POST /v1/chat/completions: the conversation is rendered with the model's chat template
/// inside zood (`GenerateRequest.messages`), as for a gRPC client.
struct ChatCompletionRequest: Decodable {
  var model: String
  var messages: [Message]
  var maxTokens: Int?
  var maxCompletionTokens: Int?
  var temperature: Float?
  var topP: Float?
  var seed: Int64?
  var stop: CompletionRequest.Stop?
  var logprobs: Bool?
  var topLogprobs: Int?
  var stream: Bool?
  var streamOptions: CompletionRequest.StreamOptions?
  var n: Int?
  var presencePenalty: Double?
  var frequencyPenalty: Double?
  var logitBias: [String: Double]?
  var tools: [AnyJSON]?
  var responseFormat: ResponseFormat?
  var promptLogprobs: Int?
  var topK: Int?
  var decoder: String?
  var decoderOptions: [String: CompletionRequest.Scalar]?

  enum CodingKeys: String, CodingKey {
    case model, messages, temperature, seed, stop, logprobs, stream, n, tools, decoder
    case promptLogprobs = "prompt_logprobs"
    case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p"
    case topLogprobs = "top_logprobs", streamOptions = "stream_options", presencePenalty = "presence_penalty"
    case frequencyPenalty = "frequency_penalty", logitBias = "logit_bias", responseFormat = "response_format"
    case topK = "top_k", decoderOptions = "decoder_options"
  }

  struct ResponseFormat: Decodable { var type: String }

  /// A message: its content is text, or a list of parts of which zood reads the text ones.
  struct Message: Decodable {
    var role: String
    var content: String

    enum CodingKeys: String, CodingKey { case role, content }
    struct Part: Decodable {
      var type: String
      var text: String?
    }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      role = try c.decode(String.self, forKey: .role)
      if let text = try? c.decodeIfPresent(String.self, forKey: .content) {
        content = text
      } else if let parts = try? c.decode([Part].self, forKey: .content) {
        if let other = parts.first(where: { $0.type != "text" }) {
          throw OpenAIError(.badRequest, "message content of type '\(other.type)' is not supported: zood's models read text", param: "messages")
        }
        content = parts.compactMap(\.text).joined()
      } else {
        content = ""  // null content (an assistant turn that only called tools)
      }
    }
  }

  var unsupported: OpenAIError? {
    if messages.isEmpty { return OpenAIError(.badRequest, "messages must hold at least one message", param: "messages") }
    if let n, n != 1 { return OpenAIError(.badRequest, "n must be 1: zood returns one completion per request; send n requests", param: "n") }
    if (presencePenalty ?? 0) != 0 || (frequencyPenalty ?? 0) != 0 {
      return OpenAIError(.badRequest, "presence_penalty and frequency_penalty are not supported: leave them at 0", param: presencePenalty != 0 ? "presence_penalty" : "frequency_penalty")
    }
    if let logitBias, !logitBias.isEmpty { return OpenAIError(.badRequest, "logit_bias is not supported", param: "logit_bias") }
    if let tools, !tools.isEmpty {
      return OpenAIError(.badRequest, "tools are not supported yet: zood does not parse tool calls from a model's answer", param: "tools")
    }
    if let format = responseFormat?.type, format != "text" {
      return OpenAIError(.badRequest, "response_format '\(format)' is not supported: zood does not constrain output to JSON", param: "response_format")
    }
    if let topLogprobs, !(0...20).contains(topLogprobs) {
      return OpenAIError(.badRequest, "top_logprobs must be 0...20", param: "top_logprobs")
    }
    if let promptLogprobs, !(0...20).contains(promptLogprobs) {
      return OpenAIError(.badRequest, "prompt_logprobs must be 0...20 (top alternatives per prompt token)", param: "prompt_logprobs")
    }
    if let tokens = maxCompletionTokens ?? maxTokens, tokens < 1 {
      return OpenAIError(.badRequest, "max_completion_tokens must be at least 1", param: "max_completion_tokens")
    }
    return nil
  }

  /// The zoo.v1 request, with OpenAI's sampling defaults as for completions; no length
  /// given means zood's default (128 tokens).
  var generateRequest: Zoo_V1_GenerateRequest {
    .with { r in
      r.model = model
      r.messages = messages.map { m in .with { $0.role = m.role; $0.content = m.content } }
      r.options = .with { o in
        o.maxTokens = Int32(clamping: maxCompletionTokens ?? maxTokens ?? 0)
        o.temperature = temperature ?? 1
        o.topP = topP ?? 1
        o.topK = Int32(clamping: topK ?? 0)
        if let seed { o.seed = UInt64(bitPattern: seed) }
        o.stop = stop?.strings ?? []
        if logprobs == true { o.logprobs = Int32(max(1, topLogprobs ?? 0)) }
        if let promptLogprobs { o.promptLogprobs = Int32(promptLogprobs) }
        o.decoder = decoder ?? ""
        o.decoderOptions = decoderOptions?.mapValues(\.text) ?? [:]
      }
    }
  }
}

/// Any JSON value, read and set aside (tools, whose presence alone is refused).
struct AnyJSON: Decodable {
  init(from decoder: any Decoder) throws {}
}

/// POST /v1/embeddings.
struct EmbeddingRequest: Decodable {
  var model: String
  var input: Input
  var encodingFormat: String?
  var dimensions: Int?

  enum CodingKeys: String, CodingKey {
    case model, input, dimensions
    case encodingFormat = "encoding_format"
  }

  /// Text or a list of texts; OpenAI also takes token ids, which zood's embedding
  /// models (tokenizing their own text) do not.
  struct Input: Decodable {
    var texts: [String]
    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let s = try? c.decode(String.self) {
        texts = [s]
      } else if let list = try? c.decode([String].self) {
        texts = list
      } else {
        throw OpenAIError(.badRequest, "input must be a string or a list of strings (token ids are not accepted: zood tokenizes the text itself)", param: "input")
      }
    }
  }
}

extension DecodingError {
  /// What was wrong with a request body, naming the field.
  var sentence: String {
    func path(_ keys: [any CodingKey]) -> String {
      keys.isEmpty ? "the body" : "'" + keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'"
    }
    switch self {
    case .keyNotFound(let key, let c): return "missing field '\(key.stringValue)'" + (c.codingPath.isEmpty ? "" : " in \(path(c.codingPath))")
    case .typeMismatch(let type, let c): return "\(path(c.codingPath)) must be \(Self.describe(type))"
    case .valueNotFound(let type, let c): return "\(path(c.codingPath)) must be \(Self.describe(type)), not null"
    case .dataCorrupted(let c):
      return c.codingPath.isEmpty ? "the body is not valid JSON" : "\(path(c.codingPath)): \(c.debugDescription)"
    @unknown default: return "the body does not match the API"
    }
  }

  private static func describe(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Bool.Type: "true or false"
    case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
    case is Float.Type, is Double.Type: "a number"
    default: "of another type"
    }
  }
}
