import Foundation
import SwiftProtobuf
import ZooPluginKit
import ZooProto

/// `tool-attention`: Tool Attention's gating (arXiv 2604.21816; asadani/tool-attention)
/// as zood middleware. It serves the tool-gating RPCs (catalogs, GateTools,
/// CheckToolCall) and, named in a Generate request, puts the summary pool and the
/// offered tools' schemas in front of the prompt.
public enum ToolAttention: MiddlewareRPCs {
  public static let declaration = Zoo_V1_MiddlewareKind.with {
    $0.name = "tool-attention"
    $0.description_p =
      "Tool gating: offers only the tools whose summary is close to the user's intent (MiniLM cosine >= threshold) and whose preconditions hold, with their full schemas; refuses calls to tools not offered or with arguments that break the schema."
    $0.rpcs = ["PutToolCatalog", "ListToolCatalogs", "GateTools", "CheckToolCall"]
    $0.config = [
      .field("threshold", .float, "0.28", "Least cosine similarity (ISO) of query and tool summary for a tool to be offered.", minimum: -1, maximum: 1),
      .field("top_k", .int, "10", "Most tools offered per turn.", minimum: 1, maximum: 256),
      .field("slate", .int, "0", "How many of the best-scoring tools are considered; 0 = max(4 top_k, 20).", minimum: 0, maximum: 4096),
      .field("embedding_model", .string, #""minilm""#, "The model zood embeds queries and summaries with (all-MiniLM-L6-v2: `zoo pull minilm`)."),
      .field("token_model", .string, #""""#, "The model whose tokenizer counts tool tokens; empty = embedding_model."),
      .field("catalogs", .string, #""""#, "Generate only: catalogs to gate, comma-separated; empty = all."),
      .field("session", .string, #""""#, "Generate only: the session whose state gates the tools and which remembers what was offered."),
      .field("query", .string, #""""#, "Generate only: the intent to gate by; empty = the prompt."),
    ]
  }

  /// The options, every declared one present (zood filled the defaults).
  struct Options {
    let gate: GateSettings
    let embeddingModel: String
    let tokenModel: String

    init(_ o: [String: String]) {
      gate = GateSettings(
        threshold: Float(o["threshold"] ?? "") ?? 0.28, topK: Int(o["top_k"] ?? "") ?? 10, slate: Int(o["slate"] ?? "") ?? 0)
      embeddingModel = o["embedding_model"].flatMap { $0.isEmpty ? nil : $0 } ?? "minilm"
      tokenModel = o["token_model"].flatMap { $0.isEmpty ? nil : $0 } ?? embeddingModel
    }

    /// The declared defaults, for RPCs that carry no options.
    static var defaults: Options { Options([:]) }
  }

  public static func serve(_ call: MiddlewareRPCCall) throws -> any SwiftProtobuf.Message {
    let store = ToolStore.shared
    switch call.rpc {
    case "PutToolCatalog":
      let request = try call.request(as: Zoo_V1_PutToolCatalogRequest.self)
      let o = Options.defaults
      return try store.put(request.catalog, embeddingModel: o.embeddingModel, tokenModel: o.tokenModel, host: call.host)
    case "ListToolCatalogs":
      return try store.list(try call.request(as: Zoo_V1_ListToolCatalogsRequest.self).name)
    case "GateTools":
      let request = try call.request(as: Zoo_V1_GateToolsRequest.self)
      return try ToolGating.gate(
        query: request.query, catalogs: request.catalogs, session: request.session, state: SessionState(request.state),
        options: Options(request.options), host: call.host)
    case "CheckToolCall":
      return try ToolGating.check(try call.request(as: Zoo_V1_CheckToolCallRequest.self))
    default:
      throw PluginError.unimplemented("tool-attention does not serve \(call.rpc)")
    }
  }

  /// Generate: gates by the prompt (or the `query` option) and rewrites the prompt as
  /// the summary pool, then the offered tools' schemas, then the original prompt.
  public static func handle(_ call: MiddlewareCall) throws -> Zoo_V1_GenerateRequest? {
    var request = call.request
    guard !request.prompt.isEmpty, request.segments.isEmpty else {
      throw PluginError.invalidArgument("tool-attention needs the prompt as text (GenerateRequest.prompt) to put the tools in front of")
    }
    let query = call.options["query"].flatMap { $0.isEmpty ? nil : $0 } ?? request.prompt
    let catalogs = (call.options["catalogs"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    let gated = try ToolGating.gate(
      query: query, catalogs: catalogs, session: call.options["session"] ?? "", state: SessionState(),
      options: Options(call.options), host: call.host)
    request.prompt = ToolGating.promptBlock(gated) + request.prompt
    return request
  }
}

/// The plugin: one middleware, `tool-attention`.
public let toolGatePlugin = PluginDefinition(
  name: "toolgate",
  version: "0.1.0",
  description: "Tool gating middleware (Tool Attention): only the tools a turn needs reach the model.",
  source: "Sadani & Kumar, Tool Attention, arXiv 2604.21816; github.com/asadani/tool-attention @ cd0905b",
  middleware: [ToolAttention.self])
