import ArgumentParser
import Foundation
import ZooProto
import ZooRPC

extension Zoo {
  struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "How well a model predicts a text: bits per byte, bits per token, perplexity.",
      discussion: """
        zood scores every token of FILE given the text before it (the Score RPC; causal \
        models only), starting from the model's beginning-of-sequence token (or its \
        end-of-sequence token), as lm-evaluation-harness scores a document. A model with \
        a position limit reads longer texts in disjoint windows of that many tokens. Bits \
        per byte compare models with different tokenizers; lower is better. FILE - reads \
        standard input.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Model name.") var model: String
    @Argument(help: "A UTF-8 text file, or - for standard input.") var file: String
    @Option(help: "Read the text in disjoint windows of at most this many tokens, each from a fresh state (0 = one pass, or the model's position limit).")
    var window: Int32 = 0
    @Flag(help: "Print JSON.") var json = false
    @Flag(name: .shortAndLong, help: "No progress line.") var quiet = false

    func run() async throws {
      let data: Data
      if file == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
      } else {
        guard let d = FileManager.default.contents(atPath: file) else { throw ZooCLIError(message: "cannot read \(file)") }
        data = d
      }
      guard let text = String(data: data, encoding: .utf8) else {
        throw ZooCLIError(message: "\(file) is not UTF-8 text")
      }
      let progress = ProgressLine("scoring \(model)", quiet: quiet || json)
      let request = Zoo_V1_ScoreRequest.with {
        $0.model = model
        $0.text = text
        $0.scoreFirstToken = true
        $0.window = window
      }
      let last: Zoo_V1_ScoreResponse
      do {
        last = try await connection.withZoo { zoo in
          try await zoo.score(request) { response in
            for try await update in response.messages {
              if update.done { return update }
              let rate = update.seconds > 0 ? Double(update.scoredTokens) / update.seconds : 0
              progress.update(
                fraction: Double(update.scoredTokens) / Double(max(update.totalTokens, 1)),
                detail: "\(update.scoredTokens)/\(update.totalTokens) tokens  \(Int(rate)) tok/s")
            }
            throw ZooCLIError(message: "zood ended the score without totals; see its log")
          }
        }
      } catch {
        progress.abandon()
        throw error
      }
      let bits = -last.logprobSum / log(2)
      let result = EvalResult(
        model: model, file: file, window: Int(last.window), bytes: data.count, scoredTokens: Int(last.scoredTokens),
        scoredBytes: Int(last.scoredBytes),
        bitsPerByte: last.scoredBytes > 0 ? bits / Double(last.scoredBytes) : nil,
        bitsPerToken: last.scoredTokens > 0 ? bits / Double(last.scoredTokens) : nil,
        perplexity: last.scoredTokens > 0 ? exp(-last.logprobSum / Double(last.scoredTokens)) : nil,
        seconds: last.seconds)
      if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
        return
      }
      progress.finish("scored \(last.scoredTokens) tokens in \(String(format: "%.2f", last.seconds)) s")
      func figure(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
      print("model           \(model)")
      print("text            \(file): \(data.count) bytes, \(last.scoredTokens) tokens scored (\(last.scoredBytes) bytes)")
      if last.window > 0 { print("windows         of \(last.window) tokens, each from a fresh state") }
      print("bits per byte   \(figure(result.bitsPerByte))")
      print("bits per token  \(figure(result.bitsPerToken))")
      print("perplexity      \(figure(result.perplexity)) (per token)")
    }
  }
}

/// `zoo eval --json`.
struct EvalResult: Encodable {
  let model: String
  let file: String
  let window: Int
  let bytes: Int
  let scoredTokens: Int
  let scoredBytes: Int
  let bitsPerByte: Double?
  let bitsPerToken: Double?
  let perplexity: Double?
  let seconds: Double

  enum CodingKeys: String, CodingKey {
    case model, file, window, bytes, perplexity, seconds
    case scoredTokens = "scored_tokens", scoredBytes = "scored_bytes", bitsPerByte = "bits_per_byte"
    case bitsPerToken = "bits_per_token"
  }
}
