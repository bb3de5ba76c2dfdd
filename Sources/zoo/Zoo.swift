import ArgumentParser
import Foundation
import GRPCCore
import ZooProto
import ZooRPC

/// zoo: the command-line client of zood.
@main
struct Zoo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zoo",
    abstract: "Talk to zood, the model-zoo daemon.",
    subcommands: [
      Plugins.self, Plugin.self, List.self, Show.self, Run.self, Generate.self, Infill.self, Embed.self, Eval.self, Pull.self, Load.self,
      Unload.self,
      PS.self, Metrics.self, Tools.self,
    ])
}

extension Zoo {
  struct Plugins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List plugins: READY with what they provide, or FAILED with why.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
      let response = try await connection.withZoo { try await $0.listPlugins(.init()) }
      if json { return try printJSON(response) }
      printTable(
        ["NAME", "VERSION", "STATE", "PROVIDES", "PATH"],
        response.plugins.map { p in
          let m = p.manifest
          let provides =
            (m.modelTypes.map { "model:\($0.modelType)" } + m.decoders.map { "decoder:\($0.name)" }
            + m.middleware.map { "middleware:\($0.name)" }).joined(separator: " ")
          return [
            m.name.isEmpty ? "-" : m.name, m.version.isEmpty ? "-" : m.version,
            p.state == .ready ? "READY" : "FAILED", p.state == .ready ? provides : p.error, p.path,
          ]
        })
      let isolated = response.plugins.filter(\.isolated)
      if !isolated.isEmpty {
        print()
        printTable(
          ["ISOLATED", "RESTARTS", "LAST CRASH"],
          isolated.map { [$0.manifest.name, "\($0.workerRestarts)", $0.lastCrash.isEmpty ? "-" : $0.lastCrash] })
      }
      let decoders = response.plugins.filter { $0.state == .ready }.flatMap { p in p.manifest.decoders.map { (p.manifest.name, $0) } }
      guard !decoders.isEmpty else { return }
      print()
      printTable(
        ["DECODER", "PLUGIN", "OPTIONS (--option NAME=VALUE; default, or the choices with the default first)"],
        decoders.map { plugin, decoder in
          let options = decoder.options.map { o -> String in
            let value = o.defaultJson.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            let choices = o.allowed.isEmpty ? value : ([value] + o.allowed.filter { $0 != value }).joined(separator: "|")
            return "\(o.name)=\(choices)"
          }
          return [decoder.name, plugin, options.isEmpty ? "-" : options.joined(separator: " ")]
        })
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the models zood can serve.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
      let response = try await connection.withZoo { try await $0.listModels(.init()) }
      if json { return try printJSON(response) }
      printTable(
        ["NAME", "TYPE", "PLUGIN", "SIZE", "STATUS"],
        response.models.map { m in
          [
            m.name, m.modelType, m.plugin.isEmpty ? "-" : m.plugin, humanBytes(m.sizeBytes),
            m.available ? (m.loaded ? "loaded" : "available") : "unavailable: \(m.unavailableReason)",
          ]
        })
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's config, plugin declaration and files.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name, as in `zoo list`.") var model: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
      let r = try await connection.withZoo { try await $0.showModel(.with { $0.model = model }) }
      if json { return try printJSON(r) }
      let s = r.summary
      print("  name           \(s.name)")
      print("  type           \(s.modelType) (plugin \(s.plugin.isEmpty ? "none" : s.plugin))")
      if !s.description_p.isEmpty { print("  description    \(s.description_p)") }
      print("  parameters     \(r.parameters)")
      print("  size           \(humanBytes(s.sizeBytes))")
      print("  tokenizer      \(r.tokenizer.isEmpty ? "none (token ids only)" : r.tokenizer)")
      print("  decoder        \(s.defaultDecoder)")
      if !r.decoders.isEmpty { print("  can decode     \(r.decoders.joined(separator: ", "))") }
      if !r.license.isEmpty { print("  license        \(r.license)") }
      print("  path           \(s.path)")
      if !s.available { print("  UNAVAILABLE    \(s.unavailableReason)") }
      let caps = r.modelType.capabilities
      if r.hasModelType {
        print("  causality      \(caps.causality)")
        print("  state          \(caps.stateGrowth)\(caps.recurrentStep ? ", recurrent step" : "")")
        if !caps.decodeCost.isEmpty { print("  decode cost    \(caps.decodeCost)") }
        if caps.embeddings { print("  embeddings     yes (zoo embed \(s.name) TEXT...)") }
      }
      print("\nconfig.json:\n\(r.configJson)")
    }
  }

  struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Generate from a prompt, streaming text as it arrives.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name, as in `zoo list`.") var model: String
    @Argument(help: "The prompt text.") var prompt: String?
    @Option(help: "The prompt as comma-separated token ids instead of text.") var tokenIds: String?
    @Option(help: "Maximum new tokens (default 128).") var maxTokens: Int32?
    @Option(help: "Temperature; 0 = greedy (default 0.8).") var temperature: Float?
    @Option(help: "Top-k; 0 = off (default 40).") var topK: Int32?
    @Option(help: "Top-p in (0, 1] (default 0.9).") var topP: Float?
    @Option(help: "Seed for reproducible sampling.") var seed: UInt64?
    @Option(help: "Stop before this string (repeatable).") var stop: [String] = []
    @Option(help: "Decoder (default: the model's).") var decoder: String?
    @Option(help: "Print each token with its logprob and this many alternatives.") var logprobs: Int32?
    @Option(
      name: .customLong("option"),
      help: "A decoder option KEY=VALUE, as the decoder declares them in `zoo plugins --json` (repeatable).")
    var decoderOptions: [String] = []
    @Option(help: "Run the request through this middleware first (repeatable, in order).") var middleware: [String] = []
    @Option(help: "A middleware option NAME.KEY=VALUE for the middleware NAME (repeatable).")
    var middlewareOption: [String] = []
    @Flag(help: "Print each decoding step (where each token was placed) to stderr.") var steps = false
    @Flag(
      help: """
        Draw the whole generation window on stderr after every decoding step, undecided positions as ░: \
        redrawn in place on a terminal, one line per step otherwise. The text follows on stdout at the end.
        """)
    var showSteps = false
    @Flag(help: "Print timing and counts to stderr at the end.") var verbose = false

    func validate() throws {
      guard (prompt == nil) != (tokenIds == nil) else {
        throw ValidationError("give a PROMPT or --token-ids, exactly one")
      }
      _ = try Self.keyValues(decoderOptions, flag: "--option")
      for option in middlewareOption {
        let (key, _) = try Self.keyValue(option, flag: "--middleware-option")
        guard let dot = key.firstIndex(of: "."), middleware.contains(String(key[..<dot])) else {
          throw ValidationError("--middleware-option '\(option)' must be NAME.KEY=VALUE for a NAME given with --middleware")
        }
      }
    }

    static func keyValue(_ text: String, flag: String) throws -> (String, String) {
      guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
        throw ValidationError("\(flag) takes KEY=VALUE; got '\(text)'")
      }
      return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    static func keyValues(_ list: [String], flag: String) throws -> [String: String] {
      var out: [String: String] = [:]
      for item in list {
        let (key, value) = try keyValue(item, flag: flag)
        out[key] = value
      }
      return out
    }

    func run() async throws {
      let ids: [Int32] = try tokenIds.map { list in
        try list.split(separator: ",").map {
          guard let v = Int32($0.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--token-ids must be comma-separated integers; got '\($0)'")
          }
          return v
        }
      } ?? []
      let request = Zoo_V1_GenerateRequest.with {
        $0.model = model
        if let prompt { $0.prompt = prompt }
        $0.promptTokenIds = ids
        $0.options = .with { o in
          if let maxTokens { o.maxTokens = maxTokens }
          if let temperature { o.temperature = temperature }
          if let topK { o.topK = topK }
          if let topP { o.topP = topP }
          if let seed { o.seed = seed }
          if let decoder { o.decoder = decoder }
          if let logprobs { o.logprobs = logprobs }
          o.stop = stop
          o.decoderOptions = (try? Self.keyValues(decoderOptions, flag: "--option")) ?? [:]
          o.reportSteps = steps || showSteps
        }
        $0.middleware = middleware.map { name in
          .with {
            $0.name = name
            for option in middlewareOption where option.hasPrefix(name + ".") {
              if let (key, value) = try? Self.keyValue(String(option.dropFirst(name.count + 1)), flag: "") {
                $0.options[key] = value
              }
            }
          }
        }
      }
      try await Self.stream(
        request, connection: connection, steps: steps, showSteps: showSteps, logprobs: (logprobs ?? 0) > 0,
        window: Int(maxTokens ?? 0), verbose: verbose)
    }

    /// Sends `request` and prints the text as it streams (or, with `logprobs`, each token
    /// with its alternatives); `steps` lists every decoding event on stderr, `showSteps`
    /// redraws the window (`window` positions to start with) after every step.
    static func stream(
      _ request: Zoo_V1_GenerateRequest, connection: ConnectionOptions, steps: Bool, showSteps: Bool, logprobs showLogprobs: Bool,
      window: Int, verbose: Bool
    ) async throws {
      let terminal = isatty(STDERR_FILENO) != 0
      @Sendable func write(_ message: Zoo_V1_GenerateResponse) {
        if showLogprobs {
          for lp in message.logprobs {
            let alternatives = lp.top.map { "\(quoted($0)) \(format($0.logprob))" }.joined(separator: ", ")
            print("\(quoted(lp.chosen))\t\(format(lp.chosen.logprob))\t[\(alternatives)]")
          }
        } else if !message.text.isEmpty {
          FileHandle.standardOutput.write(Data(message.text.utf8))
        } else if message.text.isEmpty && !message.tokenIds.isEmpty && request.prompt.isEmpty {
          FileHandle.standardOutput.write(Data((message.tokenIds.map(String.init).joined(separator: " ") + " ").utf8))
        }
      }
      let last = try await connection.withZoo { zoo in
        try await zoo.generate(request) { response in
          var last = Zoo_V1_GenerateResponse()
          // With --show-steps the output waits until the last frame is drawn.
          var held: [Zoo_V1_GenerateResponse] = []
          var canvas = StepCanvas(length: window)
          for try await message in response.messages {
            for step in message.steps where steps {
              FileHandle.standardError.write(Data(
                "step \(step.op == .set ? "set" : step.op == .insert ? "insert" : "append") position \(step.position) token \(step.token) \(step.text.debugDescription) committed \(step.committed)\n".utf8))
            }
            if showSteps {
              if !message.steps.isEmpty {
                message.steps.forEach { canvas.apply($0) }
                // A terminal is cleared and drawn from the top, as llama.cpp's diffusion visual mode does.
                let frame = canvas.render(terminal: terminal, oneLine: !terminal)
                FileHandle.standardError.write(Data((terminal ? "\u{1B}[2J\u{1B}[H\(frame)\n" : "\(frame)\n").utf8))
              }
              held.append(message)
            } else {
              write(message)
            }
            if message.done { last = message }
          }
          held.forEach(write)
          return last
        }
      }
      if !showLogprobs { print() }
      if verbose {
        let s = last.stats
        let decodeRate = s.decodeSeconds > 0 ? Double(max(s.generatedTokens - 1, 0)) / s.decodeSeconds : 0
        FileHandle.standardError.write(Data("""
          finish reason:   \(last.finishReason)
          prompt tokens:   \(s.promptTokens)
          prefill:         \(String(format: "%.3f", s.prefillSeconds)) s
          generated:       \(s.generatedTokens) tokens
          forward passes:  \(s.forwardPasses)
          decode:          \(String(format: "%.3f", s.decodeSeconds)) s (\(String(format: "%.1f", decodeRate)) tokens/s)

          """.utf8))
      }
    }

    /// A token's text in quotes, or its id in brackets when the model has no tokenizer.
    private static func quoted(_ t: Zoo_V1_TokenLogprob) -> String { t.text.isEmpty ? "[\(t.token)]" : t.text.debugDescription }
    private static func format(_ v: Float) -> String { String(format: "%.4f", v) }
  }

  struct Infill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fill the gaps of a template with a model that inserts (e.g. an ILM); prints the filled text.",
      discussion: """
        Gaps are marked ___ (or --gap MARK); the model decides how many tokens each gap gets. \
        Example: zoo infill ilm-shakespeare "To be, or ___ to be: that is the ___."
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name, as in `zoo list`.") var model: String
    @Argument(help: "The template, with a gap mark wherever the model may insert text.") var template: String
    @Option(help: "The mark of a gap in the template.") var gap = "___"
    @Option(help: "Maximum tokens inserted in all (default 128).") var maxTokens: Int32?
    @Option(help: "Temperature; 0 = greedy (default 0.8).") var temperature: Float?
    @Option(help: "Top-k; 0 = off (default 40).") var topK: Int32?
    @Option(help: "Top-p in (0, 1] (default 0.9).") var topP: Float?
    @Option(help: "Seed for reproducible sampling.") var seed: UInt64?
    @Option(help: "Decoder (default: the model's; it must fill gaps).") var decoder: String?
    @Option(name: .customLong("option"), help: "A decoder option KEY=VALUE (repeatable).") var decoderOptions: [String] = []
    @Flag(help: "Print each insertion to stderr.") var steps = false
    @Flag(help: "Redraw the text on stderr after every insertion: in place on a terminal, one line per step otherwise.")
    var showSteps = false
    @Flag(help: "Print timing and counts to stderr at the end.") var verbose = false

    func validate() throws {
      guard !gap.isEmpty else { throw ValidationError("--gap must not be empty") }
      _ = try Generate.keyValues(decoderOptions, flag: "--option")
    }

    /// The template cut at every gap mark: each piece is a segment, and a gap follows
    /// every piece but the last. zood judges the result (no gap, two gaps in a row).
    static func segments(_ template: String, gap: String) -> [Zoo_V1_PromptSegment] {
      let pieces = template.components(separatedBy: gap)
      return pieces.enumerated().map { i, piece in
        .with {
          $0.text = piece
          $0.gapAfter = i < pieces.count - 1
        }
      }
    }

    func run() async throws {
      let request = Zoo_V1_GenerateRequest.with {
        $0.model = model
        $0.segments = Self.segments(template, gap: gap)
        $0.options = .with { o in
          if let maxTokens { o.maxTokens = maxTokens }
          if let temperature { o.temperature = temperature }
          if let topK { o.topK = topK }
          if let topP { o.topP = topP }
          if let seed { o.seed = seed }
          if let decoder { o.decoder = decoder }
          o.decoderOptions = (try? Generate.keyValues(decoderOptions, flag: "--option")) ?? [:]
          o.reportSteps = steps || showSteps
        }
      }
      try await Generate.stream(
        request, connection: connection, steps: steps, showSteps: showSteps, logprobs: false, window: 0, verbose: verbose)
    }
  }

  struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Embed texts with an embedding model; prints one JSON array per text.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name, as in `zoo list`.") var model: String
    @Argument(help: "The texts, each embedded on its own.") var texts: [String]
    @Flag(help: "Refuse texts longer than the model reads instead of cutting them.") var noTruncate = false
    @Flag(help: "Print the whole response as JSON (vectors, token counts, timing).") var json = false

    func validate() throws {
      guard !texts.isEmpty else { throw ValidationError("give at least one TEXT") }
    }

    func run() async throws {
      let r = try await connection.withZoo { zoo in
        try await zoo.embed(.with {
          $0.model = model
          $0.texts = texts
          if noTruncate { $0.truncate = false }
        })
      }
      if json { return try printJSON(r) }
      for e in r.embeddings { print("[" + e.values.map { "\($0)" }.joined(separator: ", ") + "]") }
    }
  }

  struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load a model now instead of on first use.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name.") var model: String
    @Option(help: "Seconds to stay loaded when idle (0 = forever).") var keepAlive: UInt32?
    @Flag(name: .shortAndLong, help: "Print nothing but errors.") var quiet = false

    func run() async throws {
      let progress = ProgressLine("loading \(model)", quiet: quiet)
      let started = ContinuousClock.now
      let request = Zoo_V1_LoadModelRequest.with {
        $0.model = model
        if let keepAlive { $0.keepAliveSeconds = keepAlive }
      }
      do {
        let loaded = try await connection.withZoo { zoo in
          try await zoo.loadModelWithProgress(request) { response in
            for try await update in response.messages {
              if update.hasModel { return update.model }
              if update.totalBytes > 0 {
                progress.bytes(update.doneBytes, of: update.totalBytes, stage: update.stage)
              } else {
                progress.update(stage: update.stage, fraction: update.fraction)
              }
            }
            throw ZooCLIError(message: "zood ended the load of '\(model)' without the model; see its log")
          }
        }
        progress.finish(
          "loaded \(loaded.name) (\(humanBytes(loaded.weightBytes))) in \(String(format: "%.2f", (ContinuousClock.now - started).seconds)) s")
      } catch {
        progress.abandon()
        throw error
      }
    }
  }

  struct Unload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Unload a model.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name.") var model: String

    func run() async throws {
      _ = try await connection.withZoo { try await $0.unloadModel(.with { $0.model = model }) }
      print("unloaded \(model)")
    }
  }

  struct PS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "Show loaded models and their memory.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
      let r = try await connection.withZoo { try await $0.listLoaded(.init()) }
      if json { return try printJSON(r) }
      printTable(
        ["NAME", "TYPE", "WEIGHTS", "MEMORY", "STATE", "ACTIVE", "QUEUED", "UNTIL"],
        r.models.map { m in
          [
            m.name, m.modelType, humanBytes(m.weightBytes), humanBytes(m.residentBytes), humanBytes(m.stateBytes),
            "\(m.activeRequests)",
            "\(m.queuedRequests)", m.expiresInSeconds > 0 ? "\(Int(m.expiresInSeconds)) s" : "forever",
          ]
        })
    }
  }

  struct Metrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print zood's metrics in Prometheus' text format (as /metrics on zood --http).")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      print(try await connection.withZoo { try await $0.getMetrics(.init()) }.text, terminator: "")
    }
  }
}
