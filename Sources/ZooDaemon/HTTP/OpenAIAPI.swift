import Foundation
import GRPCCore
import NIOCore
import NIOHTTP1
import ZooProto

/// The OpenAI-compatible HTTP API (`zood --http`): each route translates its JSON body to
/// a zoo.v1 request and runs it through the same `ZooService` path as gRPC (checks,
/// scheduler slots and queue limits, middleware, logging), so the two front doors cannot
/// drift apart. gRPC statuses become OpenAI's error JSON with the matching HTTP status.
struct OpenAIAPI: Sendable {
  let service: ZooService
  /// Bearer token every request must carry (`--http-api-key-file`); nil = none.
  let apiKey: String?

  func respond(to request: HTTPRequest, with writer: HTTPResponseWriter) async {
    do {
      try authorize(request)
      switch (request.method, request.path) {
      case (.GET, "/metrics"):
        let text = await ServingMetrics.exposition(service.metrics, runtime: service.runtime)
        try await writer.send(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: ByteBuffer(string: text))
      case (.GET, "/v1/models"):
        try await send(writer, ["object": "list", "data": service.runtime.listModels().map(Self.model)])
      case (.GET, let path) where path.hasPrefix("/v1/models/"):
        let name = String(path.dropFirst("/v1/models/".count)).removingPercentEncoding ?? ""
        guard let model = service.runtime.listModels().first(where: { $0.name == name }) else {
          throw OpenAIError(.notFound, "The model '\(name.clipped())' does not exist: `zoo list` shows the models zood serves", param: "model", code: "model_not_found")
        }
        try await send(writer, Self.model(model))
      case (.POST, "/v1/completions"):
        let body = try decode(CompletionRequest.self, request)
        if let unsupported = body.unsupported { throw unsupported }
        let completion = Completion(
          chat: false, model: body.model, topLogprobs: body.logprobs, promptLogprobs: body.promptLogprobs,
          echo: body.echo == true, echoedText: body.echoedText, events: body.stream == true ? writer : nil,
          includeUsage: body.streamOptions?.includeUsage == true)
        if body.scoresPromptOnly {
          try await scorePrompt(body.scoreRequest, completion, writer)
        } else {
          try await complete(body.generateRequest, completion, writer)
        }
      case (.POST, "/v1/chat/completions"):
        let body = try decode(ChatCompletionRequest.self, request)
        if let unsupported = body.unsupported { throw unsupported }
        let completion = Completion(
          chat: true, model: body.model, topLogprobs: body.logprobs == true ? body.topLogprobs ?? 0 : nil,
          promptLogprobs: body.promptLogprobs, echo: false, echoedText: nil, events: body.stream == true ? writer : nil,
          includeUsage: body.streamOptions?.includeUsage == true)
        try await complete(body.generateRequest, completion, writer)
      case (.POST, "/v1/embeddings"):
        try await embed(try decode(EmbeddingRequest.self, request), writer)
      case (_, "/v1/models"), (_, "/v1/completions"), (_, "/v1/chat/completions"), (_, "/v1/embeddings"):
        throw OpenAIError(.methodNotAllowed, "\(request.method) is not served on \(request.path.clipped())")
      default:
        throw OpenAIError(
          .notFound, "Unknown request URL: \(request.method) \(request.path.clipped()). zood serves GET /v1/models, POST /v1/completions, POST /v1/chat/completions and POST /v1/embeddings")
      }
    } catch let error as OpenAIError {
      try? await writer.send(error.status, contentType: "application/json", body: error.json)
    } catch {
      // A write to a client that has gone: nobody to answer.
    }
  }

  // MARK: Routes

  private static func model(_ m: Zoo_V1_ModelSummary) -> [String: Any] {
    ["id": m.name, "object": "model", "created": 0, "owned_by": "zoo"]
  }

  /// POST /v1/completions and /v1/chat/completions, whole or streamed as server-sent
  /// events.
  private func complete(_ request: Zoo_V1_GenerateRequest, _ completion: Completion, _ writer: HTTPResponseWriter)
    async throws
  {
    do {
      try await run { try await service.generate(request: request, response: RPCWriter(wrapping: completion), received: .now, deadline: nil) }
      // Cancelled while the client is still here: zood is stopping.
      if completion.cancelled {
        throw OpenAIError(.serviceUnavailable, "zood stopped before the completion finished (it is shutting down); retry")
      }
    } catch let error as OpenAIError where completion.started {
      // Too late for a status: OpenAI's streams end with an error event.
      try await writer.write(Completion.event(error.json))
      try await writer.write(Completion.event(ByteBuffer(string: "[DONE]")))
      try await writer.finish()
      return
    }
    try await answer(completion, writer)
  }

  /// A completion of the prompt alone (echo with max_tokens 0): zood's Score, in the
  /// completions shape, finish_reason "length".
  private func scorePrompt(_ request: Zoo_V1_ScoreRequest, _ completion: Completion, _ writer: HTTPResponseWriter)
    async throws
  {
    let collected = Collector<Zoo_V1_ScoreResponse>()
    try await run { try await service.score(request: request, response: RPCWriter(wrapping: collected), received: .now, deadline: nil) }
    let entries = collected.messages.flatMap(\.tokens)
    try await completion.write(.with { $0.promptLogprobs = entries })
    try await completion.write(.with {
      $0.done = true
      $0.finishReason = .length
      $0.stats.promptTokens = Int32(entries.count)
    })
    try await answer(completion, writer)
  }

  private func answer(_ completion: Completion, _ writer: HTTPResponseWriter) async throws {
    if completion.events != nil {
      try await completion.finishEvents()
    } else {
      try await send(writer, completion.whole())
    }
  }

  /// POST /v1/embeddings: floats, or base64 of little-endian float32 (the `openai`
  /// package asks for base64 unless told otherwise).
  private func embed(_ body: EmbeddingRequest, _ writer: HTTPResponseWriter) async throws {
    let base64: Bool
    switch body.encodingFormat ?? "float" {
    case "float": base64 = false
    case "base64": base64 = true
    case let other: throw OpenAIError(.badRequest, "encoding_format must be float or base64, not '\(other)'", param: "encoding_format")
    }
    let request = Zoo_V1_EmbedRequest.with {
      $0.model = body.model
      $0.texts = body.input.texts
    }
    let response = try await run { try await service.embed(request: request, received: .now, deadline: nil) }
    if let dimensions = body.dimensions, dimensions != Int(response.dimensions) {
      throw OpenAIError(
        .badRequest, "dimensions must be the model's own, \(response.dimensions): zood does not shorten embeddings", param: "dimensions")
    }
    let data: [[String: Any]] = response.embeddings.enumerated().map { i, e in
      let vector: Any =
        base64 ? e.values.withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() } : e.values.map(Double.init)
      return ["object": "embedding", "index": i, "embedding": vector]
    }
    try await send(
      writer,
      [
        "object": "list", "data": data, "model": body.model,
        "usage": ["prompt_tokens": response.totalTokens, "total_tokens": response.totalTokens],
      ])
  }

  // MARK: Plumbing

  /// Runs a request through `ZooService` as a gRPC handler would: with a cancellation
  /// handle that this task's cancellation (the client closed the connection) fires, and
  /// gRPC errors turned into OpenAI's.
  private func run<T: Sendable>(_ call: @Sendable () async throws -> T) async throws -> T {
    try await withServerContextRPCCancellationHandle { handle in
      try await withTaskCancellationHandler {
        do {
          return try await call()
        } catch let error as RPCError {
          throw OpenAIError(error)
        }
      } onCancel: {
        handle.cancel()
      }
    }
  }

  private func authorize(_ request: HTTPRequest) throws {
    guard let apiKey else { return }
    let given = request.headers["authorization"].first ?? ""
    let expected = "Bearer " + apiKey
    // Compared in constant time: the time taken says nothing about the key.
    let same = given.utf8.count == expected.utf8.count && zip(given.utf8, expected.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    guard same else {
      throw OpenAIError(
        .unauthorized, given.isEmpty ? "this zood needs an API key: send Authorization: Bearer KEY" : "Incorrect API key provided",
        code: "invalid_api_key")
    }
  }

  private func decode<T: Decodable>(_ type: T.Type, _ request: HTTPRequest) throws -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(request.body.readableBytesView))
    } catch let error as OpenAIError {
      throw error
    } catch let error as DecodingError {
      // A field's own decoder may have said it better (prompt, input).
      if case .dataCorrupted(let c) = error, let inner = c.underlyingError as? OpenAIError { throw inner }
      throw OpenAIError(.badRequest, "invalid request body: \(error.sentence)")
    }
  }

  private func send(_ writer: HTTPResponseWriter, _ body: [String: Any]) async throws {
    try await writer.send(.ok, contentType: "application/json", body: Self.json(body))
  }

  static func json(_ object: [String: Any]) -> ByteBuffer {
    ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
  }
}

/// One completion as zood's messages arrive, in the shape of /v1/completions or
/// /v1/chat/completions: the text and logprobs gathered for the whole answer, or each
/// message sent on as a server-sent event. Written by one task at a time (the
/// request's), hence unchecked.
private final class Completion: RPCWriterProtocol, @unchecked Sendable {
  let chat: Bool
  let id: String
  let model: String
  let created = Int(Date().timeIntervalSince1970)
  let topLogprobs: Int?
  /// vLLM's prompt_logprobs: alternatives per prompt token to show; nil = not asked.
  let promptLogprobs: Int?
  /// OpenAI's echo: the answer starts with the prompt (and its tokens' logprobs).
  let echo: Bool
  let events: HTTPResponseWriter?
  let includeUsage: Bool
  private(set) var started = false
  private var text = ""
  private var tokens: [Zoo_V1_TokenLogprobs] = []
  /// Characters before each token, for the completions shape's text_offset.
  private var offsets: [Int] = []
  private var offset = 0
  private var prompt: [Zoo_V1_TokenLogprobs] = []
  private var last: Zoo_V1_GenerateResponse?
  private var sentFirstDelta = false
  private var sentPromptLogprobs = false

  init(
    chat: Bool, model: String, topLogprobs: Int?, promptLogprobs: Int?, echo: Bool, echoedText: String?,
    events: HTTPResponseWriter?, includeUsage: Bool
  ) {
    self.chat = chat
    self.id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    self.model = model
    self.topLogprobs = topLogprobs
    self.promptLogprobs = promptLogprobs
    self.echo = echo
    self.events = events
    self.includeUsage = includeUsage
    text = echoedText ?? ""
    offset = text.count
  }

  func write(contentsOf elements: some Sequence<Zoo_V1_GenerateResponse>) async throws {
    for e in elements { try await write(e) }
  }

  /// The scored prompt (zood's first message when asked): kept for prompt_logprobs, and
  /// with echo its tokens lead the logprobs (its text the answer, for token-id prompts).
  private func receivePrompt(_ entries: [Zoo_V1_TokenLogprobs]) {
    prompt = entries
    guard echo else { return }
    if text.isEmpty { text = entries.map(\.chosen.text).joined() }
    var at = 0
    offsets = entries.map { entry in
      defer { at += entry.chosen.text.count }
      return at
    }
    tokens = entries
    offset = text.count
  }

  func write(_ message: Zoo_V1_GenerateResponse) async throws {
    if !message.promptLogprobs.isEmpty { receivePrompt(message.promptLogprobs) }
    tokens += message.logprobs
    for step in message.logprobs {
      offsets.append(offset)
      offset += step.chosen.text.count
    }
    text += message.text
    if message.done {
      last = message
      return  // its text goes out with the finish_reason, in `finishEvents`
    }
    guard let events, !message.text.isEmpty else { return }
    if !started {
      try await events.start(.ok, contentType: "text/event-stream")
      started = true
    }
    try await events.write(Self.event(OpenAIAPI.json(chunk(text: message.text, logprobs: logprobs(pendingFrom.tokens..<tokens.count), finish: nil))))
    pendingFrom = (pendingFrom.characters + message.text.count, tokens.count)
  }

  /// Where the text and tokens not yet streamed begin.
  private var pendingFrom = (characters: 0, tokens: 0)

  /// The chosen tokens' logprobs for `range`, in the endpoint's shape.
  private func logprobs(_ range: Range<Int>) -> Any {
    guard let n = topLogprobs else { return NSNull() }
    let steps = tokens[range]
    if chat {
      func entry(_ t: Zoo_V1_TokenLogprob) -> [String: Any] {
        ["token": t.text, "logprob": Double(t.logprob), "bytes": Array(t.text.utf8).map(Int.init)]
      }
      return ["content": steps.map { step in entry(step.chosen).merging(["top_logprobs": step.top.prefix(n).map(entry)]) { $1 } }]
    }
    // An echoed prompt's first token has no logprob: null, as OpenAI sends it.
    return [
      "tokens": steps.map(\.chosen.text),
      "token_logprobs": steps.map { $0.chosen.hasLogprob ? Double($0.chosen.logprob) as Any : NSNull() },
      "top_logprobs": steps.map { step -> Any in
        guard step.chosen.hasLogprob else { return NSNull() }
        return Dictionary(step.top.prefix(n).map { ($0.text, Double($0.logprob)) }, uniquingKeysWith: max)
      },
      "text_offset": Array(offsets[range]),
    ] as [String: Any]
  }

  /// vLLM's prompt_logprobs: per prompt token, null for the first, else the token and
  /// its alternatives by id with logprob, rank (1 = most likely; null when the token is
  /// not among the alternatives, whose ranks are known) and text.
  private var promptLogprobsJSON: Any {
    guard let n = promptLogprobs else { return NSNull() }
    return prompt.map { step -> Any in
      guard step.chosen.hasLogprob else { return NSNull() }
      let top = Array(step.top.prefix(n))
      var out: [String: Any] = [:]
      for (i, t) in top.enumerated() {
        out["\(t.token)"] = ["logprob": Double(t.logprob), "rank": i + 1, "decoded_token": t.text] as [String: Any]
      }
      let rank: Any = step.top.firstIndex { $0.token == step.chosen.token }.map { $0 + 1 } ?? NSNull()
      out["\(step.chosen.token)"] =
        ["logprob": Double(step.chosen.logprob), "rank": rank, "decoded_token": step.chosen.text] as [String: Any]
      return out
    }
  }

  /// The generation ended without finishing (zood's shutdown cancelled it).
  var cancelled: Bool { last?.finishReason == .cancelled }

  private var usage: [String: Int] {
    let s = last?.stats ?? .init()
    return ["prompt_tokens": Int(s.promptTokens), "completion_tokens": Int(s.generatedTokens), "total_tokens": Int(s.promptTokens + s.generatedTokens)]
  }

  private var finishReason: String { last?.finishReason == .length ? "length" : "stop" }

  /// One streamed chunk. Chat chunks carry a `delta`: the first names the role.
  private func chunk(text: String, logprobs: Any, finish: String?) -> [String: Any] {
    var choice: [String: Any] = ["index": 0, "logprobs": logprobs, "finish_reason": finish.map { $0 as Any } ?? NSNull()]
    if promptLogprobs != nil && !sentPromptLogprobs {
      choice["prompt_logprobs"] = promptLogprobsJSON
      sentPromptLogprobs = true
    }
    if chat {
      var delta: [String: Any] = text.isEmpty && sentFirstDelta ? [:] : ["content": text]
      if !sentFirstDelta { delta["role"] = "assistant" }
      sentFirstDelta = true
      choice["delta"] = delta
    } else {
      choice["text"] = text
    }
    return [
      "id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created, "model": model,
      "choices": [choice],
    ]
  }

  /// The answer as one JSON document.
  func whole() -> [String: Any] {
    var choice: [String: Any] = ["index": 0, "logprobs": logprobs(0..<tokens.count), "finish_reason": finishReason]
    if promptLogprobs != nil { choice["prompt_logprobs"] = promptLogprobsJSON }
    if chat { choice["message"] = ["role": "assistant", "content": text] } else { choice["text"] = text }
    return [
      "id": id, "object": chat ? "chat.completion" : "text_completion", "created": created, "model": model,
      "choices": [choice], "usage": usage,
    ]
  }

  /// The last events of a stream: the rest of the text with its finish_reason, usage
  /// when the client asked for it (stream_options.include_usage), then `[DONE]`.
  func finishEvents() async throws {
    guard let events else { return }
    if !started { try await events.start(.ok, contentType: "text/event-stream") }
    let rest = String(text.dropFirst(pendingFrom.characters))
    try await events.write(
      Self.event(OpenAIAPI.json(chunk(text: rest, logprobs: logprobs(pendingFrom.tokens..<tokens.count), finish: finishReason))))
    if includeUsage {
      var tail = chunk(text: "", logprobs: NSNull(), finish: nil)
      tail["choices"] = [Any]()
      tail["usage"] = usage
      try await events.write(Self.event(OpenAIAPI.json(tail)))
    }
    try await events.write(Self.event(ByteBuffer(string: "[DONE]")))
    try await events.finish()
  }

  /// One server-sent event: `data: ...` and a blank line.
  static func event(_ payload: ByteBuffer) -> ByteBuffer {
    var out = ByteBuffer(string: "data: ")
    var payload = payload
    out.writeBuffer(&payload)
    out.writeString("\n\n")
    return out
  }
}

/// Every message of a call, for routes that answer once (echo's scoring).
private final class Collector<Message: Sendable>: RPCWriterProtocol, @unchecked Sendable {
  private(set) var messages: [Message] = []
  func write(_ message: Message) async throws { messages.append(message) }
  func write(contentsOf elements: some Sequence<Message>) async throws { messages += elements }
}
