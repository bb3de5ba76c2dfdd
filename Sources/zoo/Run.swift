import ArgumentParser
import Dispatch
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization
import ZooProto
import ZooRPC

#if canImport(Glibc)
import Glibc
#endif

extension Zoo {
  /// An interactive session, as `ollama run` offers: chat with history for a model with
  /// a chat template, plain continuation of each input otherwise.
  struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Talk to a model at a prompt: chat with history, or continuation for models without a chat template.",
      discussion: """
        Type a message and press Enter; \"\"\" starts and ends a message of several lines. \
        Commands: /set temperature 0.5 (also top_k, top_p, max_tokens, seed, system TEXT), \
        /show, /clear (forget the conversation), /bye. Ctrl-C stops the answer being written; \
        Ctrl-D or /bye leaves.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The model to talk to.") var model: String
    @Option(help: "A system message that starts the conversation (chat models).") var system: String?

    func run() async throws {
      try await connection.withZoo { zoo in
        let shown = try await zoo.showModel(.with { $0.model = model })
        var session = Session(model: model, chat: !shown.chatTemplate.isEmpty, system: system)
        say(
          "zoo run \(model): \(session.chat ? "chat (the model's chat template, history kept)" : "continuation (no chat template: each input is continued on its own)"). /? for help, /bye to leave."
        )
        let interrupts = Interrupts()
        defer { interrupts.stop() }
        while let input = Self.readMessage() {
          if input.hasPrefix("/") {
            if try await session.command(input, zoo: zoo, shown: shown) == .leave { return }
            continue
          }
          guard !input.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { continue }
          try await session.answer(input, zoo: zoo, interrupts: interrupts)
        }
        say("")  // Ctrl-D: leave on a fresh line
      }
    }

    /// One message from the terminal: a line, or the lines between two `"""`; nil at the
    /// end of input.
    static func readMessage() -> String? {
      say(">>> ", newline: false)
      guard let line = readLine() else { return nil }
      guard line.hasPrefix("\"\"\"") else { return line }
      var lines = [String(line.dropFirst(3))]
      while true {
        say("... ", newline: false)
        guard let next = readLine() else { break }
        if next.hasSuffix("\"\"\"") {
          lines.append(String(next.dropLast(3)))
          break
        }
        lines.append(next)
      }
      return lines.joined(separator: "\n").trimmingCharacters(in: .newlines)
    }
  }
}

/// The conversation and the options the session's commands set.
private struct Session {
  let model: String
  let chat: Bool
  var system: String?
  var history: [Zoo_V1_ChatMessage] = []
  var options = Zoo_V1_GenerateOptions()

  init(model: String, chat: Bool, system: String?) {
    self.model = model
    self.chat = chat
    self.system = system
  }

  enum Outcome { case stay, leave }

  mutating func command(_ input: String, zoo: Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix>, shown: Zoo_V1_ShowModelResponse)
    async throws -> Outcome
  {
    let words = input.split(separator: " ", maxSplits: 2).map(String.init)
    switch words[0] {
    case "/bye", "/exit":
      return .leave
    case "/clear":
      history = []
      say("Cleared the conversation.")
    case "/show":
      let s = shown.summary
      say("model \(s.name): \(s.modelType), plugin \(s.plugin), \(shown.parameters) parameters, default decoder \(s.defaultDecoder)")
      say(chat ? "chat template: yes (\(shown.chatTemplate.count) characters)" : "chat template: none (continuation)")
      say("options: \(describeOptions())" + (system.map { "; system: \($0)" } ?? ""))
    case "/set":
      guard words.count == 3 else {
        say("Use /set NAME VALUE: temperature, top_k, top_p, max_tokens, seed or system.")
        return .stay
      }
      set(words[1], words[2])
    case "/?", "/help":
      say("""
        /set temperature 0.5   also top_k, top_p, max_tokens, seed, system TEXT
        /show                  the model and the session's options
        /clear                 forget the conversation
        /bye                   leave (or Ctrl-D)
        \"\"\"                    start and end a message of several lines
        Ctrl-C stops the answer being written.
        """)
    default:
      say("Unknown command \(words[0]); /? lists them.")
    }
    return .stay
  }

  private mutating func set(_ name: String, _ value: String) {
    switch name {
    case "temperature": if let v = Float(value) { options.temperature = v } else { return bad(name, "a number") }
    case "top_k": if let v = Int32(value) { options.topK = v } else { return bad(name, "an integer") }
    case "top_p": if let v = Float(value) { options.topP = v } else { return bad(name, "a number") }
    case "max_tokens": if let v = Int32(value) { options.maxTokens = v } else { return bad(name, "an integer") }
    case "seed": if let v = UInt64(value) { options.seed = v } else { return bad(name, "an integer") }
    case "system":
      system = value
      history = []
      say("Set the system message; the conversation starts again.")
      return
    default:
      say("Unknown option \(name): temperature, top_k, top_p, max_tokens, seed or system.")
      return
    }
    say("Set \(name) to \(value).")  // zood checks the value with the next message
  }

  private func bad(_ name: String, _ kind: String) { say("\(name) takes \(kind).") }

  private func describeOptions() -> String {
    var parts: [String] = []
    if options.hasTemperature { parts.append("temperature \(options.temperature)") }
    if options.hasTopK { parts.append("top_k \(options.topK)") }
    if options.hasTopP { parts.append("top_p \(options.topP)") }
    if options.maxTokens > 0 { parts.append("max_tokens \(options.maxTokens)") }
    if options.hasSeed { parts.append("seed \(options.seed)") }
    return parts.isEmpty ? "zood's defaults" : parts.joined(separator: ", ")
  }

  /// Streams the model's answer to `input`. Ctrl-C stops it; a stopped or failed
  /// exchange is left out of the conversation.
  mutating func answer(_ input: String, zoo: Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix>, interrupts: Interrupts) async throws {
    var request = Zoo_V1_GenerateRequest.with {
      $0.model = model
      $0.options = options
    }
    if chat {
      if history.isEmpty, let system { history.append(.with { $0.role = "system"; $0.content = system }) }
      history.append(.with { $0.role = "user"; $0.content = input })
      request.messages = history
    } else {
      request.prompt = input
    }
    let request_ = request
    let task = Task {
      try await zoo.generate(request_) { response in
        var text = ""
        for try await message in response.messages {
          say(message.text, newline: false)
          text += message.text
        }
        return text
      }
    }
    interrupts.current = task
    defer { interrupts.current = nil }
    do {
      let text = try await task.value
      say("")
      if chat { history.append(.with { $0.role = "assistant"; $0.content = text }) }
    } catch where task.isCancelled {
      say("\n(stopped)")
      if chat { history.removeLast() }
    } catch let error as RPCError {
      say("\nError: \(error.message) (\(error.code))")
      if chat { history.removeLast() }
    }
  }
}

/// Writes to the terminal at once: the session interleaves prompts, streamed tokens and
/// messages, which print's buffering would reorder when stdout is a pipe.
private func say(_ text: String, newline: Bool = true) {
  FileHandle.standardOutput.write(Data((newline ? text + "\n" : text).utf8))
}

/// Ctrl-C while an answer is written cancels it; at the prompt it says how to leave.
/// Unchecked: the signal source is set once here and only cancelled.
private final class Interrupts: @unchecked Sendable {
  private let task = Mutex<Task<String, any Error>?>(nil)
  private let source: any DispatchSourceSignal

  init() {
    signal(SIGINT, SIG_IGN)
    source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    source.setEventHandler { [unowned self] in
      if let running = current {
        running.cancel()
      } else {
        say("\nUse Ctrl-D or /bye to leave.\n>>> ", newline: false)
      }
    }
    source.resume()
  }

  var current: Task<String, any Error>? {
    get { task.withLock { $0 } }
    set { task.withLock { $0 = newValue } }
  }

  func stop() {
    source.cancel()
    signal(SIGINT, SIG_DFL)
  }
}
