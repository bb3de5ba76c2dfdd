import ArgumentParser
import Foundation
import ZooProto

extension Zoo {
  /// `zoo tools`: tool catalogs and tool gating (the tool-attention middleware).
  struct Tools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Tool catalogs from MCP servers, and gating: which tools a turn needs.",
      subcommands: [Import.self, List.self, Gate.self, Check.self])
  }
}

extension Zoo.Tools {
  struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Import an MCP server's tools: starts it on stdio, lists its tools, stores them in zood.",
      discussion: """
        Example: zoo tools import git -- uvx mcp-server-git --repository .
        The server runs only for the import. A server that fails to start, exits, hangs or
        answers garbage is reported and the catalogs zood holds stay as they were.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The catalog's name (letters, digits, '-', '_', '.').") var name: String
    @Option(help: "Seconds to wait for the server's handshake and tool list.") var timeout: Double = 30
    @Option(
      name: .customLong("require"),
      help: "A precondition for a tool: TOOL=scope:S, TOOL=output:PATTERN or TOOL=milestone:M (repeatable).")
    var requirements: [String] = []
    @Argument(parsing: .postTerminator, help: "The server's command line, after --.") var command: [String] = []

    func validate() throws {
      guard !command.isEmpty else { throw ValidationError("give the server's command after --, e.g. -- mcp-server-time") }
      guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
      let (server, tools) = try await MCPImport.listTools(command: command, timeout: .milliseconds(Int(timeout * 1000)))
      var catalog = try MCPImport.catalog(named: name, source: command.joined(separator: " "), tools: tools)
      for requirement in requirements { try Self.apply(requirement, to: &catalog) }
      let response = try await connection.withZoo { try await $0.putToolCatalog(.with { $0.catalog = catalog }) }
      print("\(response.replaced ? "replaced" : "imported") '\(response.name)': \(response.tools) tools from \(server)")
    }

    static func apply(_ requirement: String, to catalog: inout Zoo_V1_ToolCatalog) throws {
      let parts = requirement.split(separator: "=", maxSplits: 1).map(String.init)
      let kinds = ["scope:", "output:", "milestone:"]
      guard parts.count == 2, let kind = kinds.first(where: { parts[1].hasPrefix($0) }), parts[1].count > kind.count else {
        throw ValidationError("--require takes TOOL=scope:S, TOOL=output:PATTERN or TOOL=milestone:M; got '\(requirement)'")
      }
      guard let i = catalog.tools.firstIndex(where: { $0.name == parts[0] }) else {
        throw ValidationError("--require names '\(parts[0])', which the server does not list: \(catalog.tools.map(\.name).joined(separator: ", "))")
      }
      let value = String(parts[1].dropFirst(kind.count))
      switch kind {
      case "scope:": catalog.tools[i].preconditions.scopes.append(value)
      case "output:": catalog.tools[i].preconditions.outputs.append(value)
      default: catalog.tools[i].preconditions.milestones.append(value)
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tool catalogs zood holds, or one catalog's tools.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "A catalog's name; without it, every catalog.") var name: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
      let response = try await connection.withZoo { try await $0.listToolCatalogs(.with { $0.name = name ?? "" }) }
      if json { return try printJSON(response) }
      if name == nil {
        printTable(["CATALOG", "TOOLS", "SOURCE"], response.catalogs.map { [$0.name, "\($0.tools.count)", $0.source] })
        return
      }
      printTable(
        ["TOOL", "PRECONDITIONS", "SUMMARY"],
        response.catalogs.flatMap(\.tools).map { t in
          let p = t.preconditions
          let needs = p.scopes.map { "scope:\($0)" } + p.outputs.map { "output:\($0)" } + p.milestones.map { "milestone:\($0)" }
          return [t.name, needs.isEmpty ? "-" : needs.joined(separator: " "), t.summary]
        })
    }
  }

  struct Gate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "The tools a query needs: offered ones with their schemas, and why the others were left out.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The user's message.") var query: String
    @Option(name: .customLong("catalog"), help: "A catalog to gate (repeatable); default: all.") var catalogs: [String] = []
    @Option(name: .customLong("scope"), help: "An auth scope the session has, e.g. github:write (repeatable).") var scopes: [String] = []
    @Option(name: .customLong("output"), help: "A tool whose output the session holds (repeatable).") var outputs: [String] = []
    @Option(name: .customLong("milestone"), help: "A milestone the session reached (repeatable).") var milestones: [String] = []
    @Option(help: "A session zood keeps: its state grows with each gate; `zoo tools check --session` uses its last offer.")
    var session: String?
    @Option(help: "Least similarity to offer a tool (default 0.28).") var threshold: Double?
    @Option(help: "Most tools offered (default 10).") var topK: Int?
    @Flag(help: "Show every tool's score, not only the offered and the closest left out.") var all = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
      let request = Zoo_V1_GateToolsRequest.with {
        $0.query = query
        $0.catalogs = catalogs
        $0.session = session ?? ""
        $0.state = .with {
          $0.scopes = scopes
          $0.toolOutputs = outputs
          $0.milestones = milestones
        }
        if let threshold { $0.options["threshold"] = "\(threshold)" }
        if let topK { $0.options["top_k"] = "\(topK)" }
      }
      let response = try await connection.withZoo { try await $0.gateTools(request) }
      if json { return try printJSON(response) }
      let shown = all ? response.scores : Array(response.scores.prefix(max(response.offered.count + 5, 10)))
      printTable(
        ["TOOL", "ISO", "OFFERED", "WHY NOT"],
        shown.map { ["\($0.catalog)/\($0.name)", String(format: "%.3f", $0.iso), $0.offered ? "yes" : "no", $0.excluded.isEmpty ? "-" : $0.excluded] })
      let t = response.tokens
      let cut = t.allSchemas > 0 ? 100 * (1 - Double(t.offeredSchemas) / Double(t.allSchemas)) : 0
      print(
        "\n\(response.offered.count) of \(response.scores.count) tools offered; schema tokens \(t.offeredSchemas) of \(t.allSchemas) (\(String(format: "%.1f", cut))% cut), summary pool \(t.summaryPool) (\(t.tokenizer)'s tokenizer); \(String(format: "%.1f", response.seconds * 1000)) ms")
    }
  }

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Whether a tool call may run: offered this turn, and its arguments match the tool's schema.",
      discussion: "Exits 1 and prints the JSON error for the model when the call is refused.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The tool called: catalog/tool, or tool when one catalog has it.") var tool: String
    @Argument(help: "Its arguments, a JSON object.") var arguments: String = "{}"
    @Option(help: "The session whose last gate decides what was offered.") var session: String?
    @Option(name: .customLong("offered"), help: "Without a session: a tool offered this turn (repeatable); default: every tool.")
    var offered: [String] = []
    @Option(name: .customLong("catalog"), help: "A catalog to look in (repeatable); default: all.") var catalogs: [String] = []

    func run() async throws {
      let request = Zoo_V1_CheckToolCallRequest.with {
        $0.tool = tool
        $0.argumentsJson = arguments
        $0.session = session ?? ""
        $0.offered = offered
        $0.catalogs = catalogs
      }
      let response = try await connection.withZoo { try await $0.checkToolCall(request) }
      if response.allowed {
        print("allowed")
      } else {
        print(response.errorJson)
        throw ExitCode(1)
      }
    }
  }
}
