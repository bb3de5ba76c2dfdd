import CZooPlugin
import Foundation
import Synchronization
import ZooPluginKit
import ZooProto

/// A tool as stored: its catalog entry and the summary it is gated by.
struct StoredTool: Sendable {
  let catalog: String
  let tool: Zoo_V1_Tool
  /// The tool's summary, or the name and its description's first paragraph (≤ 60 words).
  let summary: String

  var name: String { tool.name }
  /// Unique across catalogs: what the prompt and CheckToolCall name a tool by.
  var qualifiedName: String { "\(catalog)/\(tool.name)" }
  /// What the query is compared with: the name and the short description (paper §4.1).
  var embeddedText: String { "\(tool.name): \(summary)" }
  /// One line of the resident summary pool.
  var summaryLine: String { "\(qualifiedName): \(summary)" }

  /// The full schema as the prompt carries it: {"description","inputSchema","name"}.
  func promptJSON(schema: JSONSchema) -> String {
    JSONValue.object(["name": .string(tool.name), "description": .string(tool.description_p), "inputSchema": schema.root])
      .canonical
  }
}

/// The tool-gating state zood keeps in this plugin: catalogs by name, the summaries'
/// embeddings and token counts per model (computed once), the promoted schemas (an LRU),
/// and sessions (their state and what their last turn offered).
final class ToolStore: Sendable {
  static let shared = ToolStore()

  /// Sessions kept at most; the least recently used goes first.
  static let maxSessions = 4096

  struct Catalog: Sendable {
    let proto: Zoo_V1_ToolCatalog
    let tools: [StoredTool]
    /// Distinguishes a replaced catalog's schemas in the cache.
    let generation: Int
    /// Embedding model → one vector per tool.
    var vectors: [String: [[Float]]] = [:]
    /// Token model → per tool (full schema, summary line).
    var tokens: [String: (schemas: [Int], summaries: [Int])] = [:]
  }

  struct Session: Sendable {
    var state = SessionState()
    /// Qualified names of the tools the last gate offered.
    var offered: [String] = []
    var used: UInt64 = 0
  }

  private struct State {
    var catalogs: [String: Catalog] = [:]
    var sessions: [String: Session] = [:]
    var generation = 0
    var clock: UInt64 = 0
  }

  private let state = Mutex(State())
  let schemas = SchemaCache(capacity: 256)

  // MARK: Catalogs

  /// Checks a catalog and makes it resident: summaries embedded and counted under the
  /// default models. Nothing is stored unless all of that worked.
  func put(_ catalog: Zoo_V1_ToolCatalog, embeddingModel: String, tokenModel: String, host: HostTextServices) throws
    -> Zoo_V1_PutToolCatalogResponse
  {
    let tools = try CatalogCheck.tools(of: catalog)
    let generation = state.withLock { s in
      s.generation += 1
      return s.generation
    }
    var stored = Catalog(proto: catalog, tools: tools, generation: generation)
    stored.vectors[embeddingModel] = try Self.embed(tools, model: embeddingModel, host: host)
    stored.tokens[tokenModel] = try Self.count(tools, model: tokenModel, host: host)
    let replaced = state.withLock { s in
      let replaced = s.catalogs[catalog.name] != nil
      s.catalogs[catalog.name] = stored
      return replaced
    }
    return .with {
      $0.name = catalog.name
      $0.tools = Int32(tools.count)
      $0.replaced = replaced
    }
  }

  func list(_ name: String) throws -> Zoo_V1_ListToolCatalogsResponse {
    let catalogs = try state.withLock { s in
      if name.isEmpty { return s.catalogs.values.sorted { $0.proto.name < $1.proto.name } }
      guard let one = s.catalogs[name] else { throw Self.unknown(name, among: s.catalogs.keys) }
      return [one]
    }
    return .with { r in
      r.catalogs = catalogs.map { c in
        var proto = c.proto
        for i in proto.tools.indices { proto.tools[i].summary = c.tools[i].summary }
        return proto
      }
    }
  }

  /// The named catalogs, all when `names` is empty.
  func lookup(_ names: [String]) throws -> [Catalog] {
    try state.withLock { s in
      if s.catalogs.isEmpty {
        throw PluginError.failedPrecondition(
          "no tool catalogs are stored; import one with `zoo tools import NAME -- COMMAND` or PutToolCatalog")
      }
      let wanted = names.isEmpty ? s.catalogs.keys.sorted() : names
      return try wanted.map { name in
        guard let c = s.catalogs[name] else { throw Self.unknown(name, among: s.catalogs.keys) }
        return c
      }
    }
  }

  /// The named catalogs with vectors and token counts for the given models, computed
  /// now where missing.
  func catalogs(_ names: [String], embeddingModel: String, tokenModel: String, host: HostTextServices) throws -> [Catalog] {
    var found = try lookup(names)
    for i in found.indices where found[i].vectors[embeddingModel] == nil || found[i].tokens[tokenModel] == nil {
      if found[i].vectors[embeddingModel] == nil {
        found[i].vectors[embeddingModel] = try Self.embed(found[i].tools, model: embeddingModel, host: host)
      }
      if found[i].tokens[tokenModel] == nil {
        found[i].tokens[tokenModel] = try Self.count(found[i].tools, model: tokenModel, host: host)
      }
      let update = found[i]
      state.withLock { s in
        // Keep what was computed unless the catalog was replaced meanwhile.
        if s.catalogs[update.proto.name]?.generation == update.generation { s.catalogs[update.proto.name] = update }
      }
    }
    return found
  }

  /// A promoted tool's schema, from the LRU or parsed now.
  func schema(of tool: StoredTool, generation: Int) throws -> SchemaCache.Entry {
    try schemas.entry("\(generation)/\(tool.qualifiedName)") {
      let schema = try JSONSchema(json: tool.tool.inputSchemaJson)
      return SchemaCache.Entry(schema: schema, promptJSON: tool.promptJSON(schema: schema))
    }
  }

  // MARK: Sessions

  /// The session's state after adding `sent` (or `sent` alone without a session).
  func sessionState(_ id: String, adding sent: SessionState) -> SessionState {
    guard !id.isEmpty else { return sent }
    return state.withLock { s in
      s.clock += 1
      var session = s.sessions[id] ?? Session()
      session.state.add(sent)
      session.used = s.clock
      s.sessions[id] = session
      if s.sessions.count > Self.maxSessions, let oldest = s.sessions.min(by: { $0.value.used < $1.value.used })?.key {
        s.sessions[oldest] = nil
      }
      return session.state
    }
  }

  /// Records what a session's turn offered, for CheckToolCall.
  func recordOffered(_ id: String, _ offered: [String]) {
    guard !id.isEmpty else { return }
    state.withLock { s in s.sessions[id]?.offered = offered }
  }

  /// What the session's last turn offered, or nil for a session that has not gated yet.
  func offered(in id: String) -> [String]? {
    state.withLock { s in s.sessions[id].map(\.offered) }
  }

  // MARK: Helpers

  private static func embed(_ tools: [StoredTool], model: String, host: HostTextServices) throws -> [[Float]] {
    try tools.map { tool in
      if host.isCancelled { throw PluginError.cancelled() }
      return try embed(tool.embeddedText, model: model, host: host)
    }
  }

  /// One text's embedding; a failure says which model (the embedding_model option) failed.
  static func embed(_ text: String, model: String, host: HostTextServices) throws -> [Float] {
    do { return try host.embed(text, model: model) } catch let e as PluginError where e.code != ZOO_ERR_CANCELLED {
      throw PluginError(e.code, "embedding with model '\(model)' (option embedding_model): \(e.message)")
    }
  }

  private static func count(_ tools: [StoredTool], model: String, host: HostTextServices) throws
    -> (schemas: [Int], summaries: [Int])
  {
    var schemas: [Int] = []
    var summaries: [Int] = []
    for tool in tools {
      if host.isCancelled { throw PluginError.cancelled() }
      let schema = try JSONSchema(json: tool.tool.inputSchemaJson)
      schemas.append(try host.tokenize(tool.promptJSON(schema: schema), model: model).count)
      summaries.append(try host.tokenize(tool.summaryLine, model: model).count)
    }
    return (schemas, summaries)
  }

  static func unknown(_ name: String, among names: some Collection<String>) -> PluginError {
    PluginError.notFound(
      "no tool catalog '\(name)'; stored: \(names.isEmpty ? "none" : names.sorted().joined(separator: ", ")) (see `zoo tools list`)")
  }
}

/// The checks a catalog passes before it is stored, each refusal naming the tool.
enum CatalogCheck {
  static let maxTools = 4096
  static let maxSchemaBytes = 1 << 20
  static let maxDescriptionBytes = 64 << 10

  static func tools(of catalog: Zoo_V1_ToolCatalog) throws -> [StoredTool] {
    func bad(_ m: String) -> PluginError { PluginError.invalidArgument("catalog '\(catalog.name)': \(m)") }
    let name = catalog.name
    let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    guard (1...64).contains(name.utf8.count), name.unicodeScalars.allSatisfy(allowed.contains) else {
      throw PluginError.invalidArgument("a catalog name is 1-64 characters of letters, digits, '-', '_' and '.'; got '\(name.prefix(80))'")
    }
    guard !catalog.tools.isEmpty else { throw bad("it has no tools") }
    guard catalog.tools.count <= maxTools else { throw bad("\(catalog.tools.count) tools; at most \(maxTools)") }
    var seen = Set<String>()
    return try catalog.tools.map { tool in
      let t = tool.name
      guard (1...128).contains(t.utf8.count), !t.contains("/"), !t.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
      else { throw bad("tool name '\(t.prefix(80))' must be 1-128 characters without '/', spaces or control characters") }
      guard seen.insert(t).inserted else { throw bad("two tools are named '\(t)'") }
      guard tool.description_p.utf8.count <= maxDescriptionBytes, tool.summary.utf8.count <= maxDescriptionBytes else {
        throw bad("tool '\(t)': the description is longer than \(maxDescriptionBytes) bytes")
      }
      guard tool.inputSchemaJson.utf8.count <= maxSchemaBytes else {
        throw bad("tool '\(t)': the input schema is longer than \(maxSchemaBytes) bytes")
      }
      do { _ = try JSONSchema(json: tool.inputSchemaJson) } catch { throw bad("tool '\(t)': input schema: \(error)") }
      if let p = tool.preconditions.problems.first { throw bad("tool '\(t)': \(p)") }
      return StoredTool(catalog: catalog.name, tool: tool, summary: summary(of: tool))
    }
  }

  /// The tool's summary, or its name's description cut to the first paragraph and 60
  /// words (the paper's "short description (≤ 60 tokens)").
  static func summary(of tool: Zoo_V1_Tool) -> String {
    if !tool.summary.isEmpty { return tool.summary }
    let paragraph = tool.description_p.components(separatedBy: "\n\n").first ?? ""
    let words = paragraph.split(whereSeparator: \.isWhitespace)
    let text = words.prefix(60).joined(separator: " ")
    return words.count > 60 ? text + " ..." : text
  }
}
