import Foundation
import ZooPluginKit
import ZooProto

/// GateTools and CheckToolCall over the stored catalogs.
enum ToolGating {
  /// One turn's gate: scores every tool of the catalogs, offers those that pass, and
  /// (with a session) remembers them for CheckToolCall.
  static func gate(
    query: String, catalogs names: [String], session: String, state sent: SessionState, options: ToolAttention.Options,
    host: HostTextServices
  ) throws -> Zoo_V1_GateToolsResponse {
    let started = DispatchTime.now().uptimeNanoseconds
    let store = ToolStore.shared
    let catalogs = try store.catalogs(names, embeddingModel: options.embeddingModel, tokenModel: options.tokenModel, host: host)
    let state = store.sessionState(session, adding: sent)
    let q = try ToolStore.embed(query, model: options.embeddingModel, host: host)

    var tools: [(tool: StoredTool, generation: Int, vector: [Float], schemaTokens: Int, summaryTokens: Int)] = []
    for c in catalogs {
      let vectors = c.vectors[options.embeddingModel]!
      let tokens = c.tokens[options.tokenModel]!
      for (i, tool) in c.tools.enumerated() {
        tools.append((tool, c.generation, vectors[i], tokens.schemas[i], tokens.summaries[i]))
      }
    }
    guard tools.allSatisfy({ $0.vector.count == q.count }) else {
      throw PluginError.internalError("model '\(options.embeddingModel)' gave vectors of different lengths")
    }
    let decisions = Gate.gate(iso: tools.map { Gate.cosine(q, $0.vector) }, settings: options.gate) { i in
      tools[i].tool.tool.preconditions.unmet(in: state)
    }

    var response = Zoo_V1_GateToolsResponse()
    for d in decisions {
      let t = tools[d.index]
      response.scores.append(.with {
        $0.name = t.tool.name
        $0.catalog = t.tool.catalog
        $0.iso = d.iso
        $0.offered = d.excluded == nil
        $0.excluded = d.excluded ?? ""
      })
      guard d.excluded == nil else { continue }
      let schema = try store.schema(of: t.tool, generation: t.generation)
      response.offered.append(.with {
        $0.name = t.tool.name
        $0.catalog = t.tool.catalog
        $0.iso = d.iso
        $0.schemaJson = schema.promptJSON
      })
      response.tokens.offeredSchemas += Int64(t.schemaTokens)
    }
    response.tokens.allSchemas = Int64(tools.reduce(0) { $0 + $1.schemaTokens })
    response.tokens.summaryPool = Int64(tools.reduce(0) { $0 + $1.summaryTokens })
    response.tokens.tokenizer = options.tokenModel
    response.summaryPool = tools.map { $0.tool.summaryLine + "\n" }.joined()
    store.recordOffered(session, response.offered.map { "\($0.catalog)/\($0.name)" })
    response.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    return response
  }

  /// The hallucination gate and the argument gate. A refusal is an answer with a JSON
  /// error for the model.
  static func check(_ request: Zoo_V1_CheckToolCallRequest) throws -> Zoo_V1_CheckToolCallResponse {
    let store = ToolStore.shared
    let all = try store.lookup(request.catalogs)
    let byName = Dictionary(all.flatMap { c in c.tools.map { ($0.qualifiedName, ($0, c.generation)) } }) { a, _ in a }
    // What this turn offered: the session's last gate, the client's list, or everything.
    let offered: [String]
    if !request.session.isEmpty {
      guard let last = store.offered(in: request.session) else {
        throw PluginError.notFound("session '\(request.session)' has not gated a turn yet; call GateTools with it first")
      }
      offered = last
    } else if !request.offered.isEmpty {
      offered = try request.offered.map { try qualified($0, among: Array(byName.keys)) ?? $0 }
    } else {
      offered = byName.keys.sorted()
    }
    let available = offered.compactMap { byName[$0]?.0 }

    let resolved: String?
    do { resolved = try qualified(request.tool, among: offered) } catch {
      return refusal(["error": .string("tool_not_available"), "tool": .string(request.tool), "message": .string(error.message)])
    }
    guard let name = resolved, let (tool, generation) = byName[name] else {
      return refusal([
        "error": .string("tool_not_available"),
        "tool": .string(request.tool),
        "message": .string("'\(request.tool)' was not offered this turn; call one of the available tools"),
        "available": .array(available.map { .object(["name": .string($0.qualifiedName), "summary": .string($0.summary)]) }),
      ])
    }
    let arguments: JSONValue
    do {
      arguments = request.argumentsJson.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        ? .object([:]) : try JSONValue.parse(request.argumentsJson)
    } catch {
      return invalid(tool, field: "", "the arguments are \(error)")
    }
    guard arguments.object != nil else { return invalid(tool, field: "", "the arguments must be a JSON object; got \(arguments.schemaType)") }
    let schema = try store.schema(of: tool, generation: generation).schema
    do throws(JSONSchema.Violation) {
      try schema.validate(arguments)
    } catch {
      return invalid(tool, field: error.pointer, "\(error.pointer.isEmpty ? "the arguments" : "argument \(error.pointer)") \(error.message)")
    }
    return .with { $0.allowed = true }
  }

  /// The summary pool (the stable prefix), then the offered tools' schemas (just before
  /// the user's message), as Tool Attention's §6.4/§6.6 place them.
  static func promptBlock(_ gated: Zoo_V1_GateToolsResponse) -> String {
    var text = "Tools (name: summary):\n" + gated.summaryPool
    if gated.offered.isEmpty {
      text += "\nNo tool is offered for this turn: answer without calling one.\n\n"
    } else {
      text += "\nTools offered for this turn, with their schemas (call only these, by name):\n"
      for tool in gated.offered { text += "\(tool.catalog)/\(tool.name): \(tool.schemaJson)\n" }
      text += "\n"
    }
    return text
  }

  /// `name` as a qualified name in `names`: itself, or the one entry "catalog/name" when
  /// only one catalog has it. Nil when none; an error when several do.
  private static func qualified(_ name: String, among names: [String]) throws(PluginError) -> String? {
    if names.contains(name) { return name }
    let matches = names.filter { $0.hasSuffix("/" + name) }
    guard matches.count <= 1 else {
      throw PluginError.invalidArgument("'\(name)' is in several catalogs (\(matches.joined(separator: ", "))): name it as catalog/tool")
    }
    return matches.first
  }

  private static func invalid(_ tool: StoredTool, field: String, _ message: String) -> Zoo_V1_CheckToolCallResponse {
    refusal([
      "error": .string("invalid_arguments"),
      "tool": .string(tool.qualifiedName),
      "field": .string(field),
      "message": .string(message),
    ])
  }

  private static func refusal(_ error: [String: JSONValue]) -> Zoo_V1_CheckToolCallResponse {
    .with {
      $0.allowed = false
      $0.errorJson = JSONValue.object(error).canonical
    }
  }
}
