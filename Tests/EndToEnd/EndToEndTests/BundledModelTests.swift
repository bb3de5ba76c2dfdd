import Foundation
import XCTest
import ZooProto
import ZooRPC
import ZooTestSupport

/// Each bundled model, served by zood with a text prompt, continues each prompt exactly as
/// its PyTorch implementation (float32) did when it was trained: models/<name>/reference.json
/// holds those greedy continuations and, per step, the gap between the two largest logits
/// and the largest |logit|. zoo's logits are within `Tolerance.official` of PyTorch's at
/// that scale, so where the gap is below twice that bound rounding alone could swap the
/// two tokens: either is a correct answer there, and the comparison stops before the first
/// such step. (The trained models' gaps are all ≥ 2.3× the bound, so today every step is
/// compared.)
final class BundledModelTests: XCTestCase {
  struct Reference: Decodable {
    struct Prompt: Decodable {
      let prompt: String
      let greedy_ids: [Int32]
      let greedy_text: String
      let top2_margins: [Double]
      let max_abs_logits: [Float]
    }
    let prompts: [Prompt]
  }

  func testGreedyTextMatchesPyTorch() async throws {
    let root = Paths.packageRoot.appendingPathComponent("models")
    let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted().filter {
      $0.hasSuffix("-shakespeare") && FileManager.default.fileExists(atPath: root.appendingPathComponent("\($0)/reference.json").path)
    }
    XCTAssertEqual(names, ["gam-shakespeare", "mamba-shakespeare", "orchid-shakespeare", "sessa-shakespeare"])
    let z = try ZoodInstance()
    for name in names { try z.addModel(from: root.appendingPathComponent(name), as: name) }
    try z.start()
    for name in names {
      let reference = try JSONDecoder().decode(
        Reference.self, from: Data(contentsOf: root.appendingPathComponent("\(name)/reference.json")))
      for p in reference.prompts {
        let messages = try await z.generate(.with {
          $0.model = name
          $0.prompt = p.prompt
          $0.options = .with {
            $0.maxTokens = Int32(p.greedy_ids.count)
            $0.temperature = 0
          }
        })
        let decided =
          p.top2_margins.indices.first { p.top2_margins[$0] <= Double(2 * Tolerance.official.bound(for: [p.max_abs_logits[$0]])) }
          ?? p.greedy_ids.count
        XCTAssertGreaterThanOrEqual(decided, 8, "\(name): reference for \(p.prompt.debugDescription) has an early near-tie")
        let ids = messages.flatMap(\.tokenIds)
        XCTAssertEqual(
          Array(ids.prefix(decided)), Array(p.greedy_ids.prefix(decided)), "\(name), prompt \(p.prompt.debugDescription)")
        if decided == p.greedy_ids.count {
          XCTAssertEqual(messages.map(\.text).joined(), p.greedy_text, "\(name), prompt \(p.prompt.debugDescription)")
        }
      }
    }
  }

  struct AdditionReference: Decodable {
    struct Decode: Decodable {
      let answer_ids: [Int32]
    }
    struct Prompt: Decodable {
      let prompt: String
      let greedy_ids: [Int32]?
      let steps8: Decode?
      let steps4: Decode?
      let steps2: Decode?
    }
    let prompts: [Prompt]
  }

  /// The addition models (training/README.md) through zood: `llama-addition` greedy and
  /// `llada-addition` with LLaDA's decoder at 8, 4 and 2 steps give the ids their PyTorch
  /// runs recorded (up to the EOS that ends the answer), and every diffusion decoder
  /// streams the right sums as text.
  func testAdditionModelsMatchPyTorch() async throws {
    let root = Paths.packageRoot.appendingPathComponent("models")
    let z = try ZoodInstance()
    for name in ["llada-addition", "llama-addition"] { try z.addModel(from: root.appendingPathComponent(name), as: name) }
    try z.start()
    func solve(_ model: String, _ prompt: String, decoder: String = "", options: [String: String] = [:]) async throws
      -> (ids: [Int32], text: String)
    {
      let messages = try await z.generate(.with {
        $0.model = model
        $0.prompt = prompt
        $0.options = .with {
          $0.maxTokens = 8
          $0.temperature = 0
          $0.decoder = decoder
          $0.decoderOptions = options
        }
      })
      return (messages.flatMap(\.tokenIds), messages.map(\.text).joined())
    }
    func beforeEOS(_ ids: [Int32]) -> [Int32] { Array(ids.prefix { $0 != 0 }) }

    for name in ["llama-addition", "llada-addition"] {
      let reference = try JSONDecoder().decode(
        AdditionReference.self, from: Data(contentsOf: root.appendingPathComponent("\(name)/reference.json")))
      XCTAssertGreaterThanOrEqual(reference.prompts.count, 5)
      for p in reference.prompts {
        if let greedy = p.greedy_ids {
          let (ids, _) = try await solve(name, p.prompt)
          XCTAssertEqual(ids, beforeEOS(greedy), "\(name) \(p.prompt)")
        }
        for (steps, decode) in [(8, p.steps8), (4, p.steps4), (2, p.steps2)] {
          guard let decode else { continue }
          let (ids, _) = try await solve(name, p.prompt, decoder: "llada", options: ["steps": "\(steps)"])
          XCTAssertEqual(ids, beforeEOS(decode.answer_ids), "\(name) \(p.prompt) at \(steps) steps")
        }
      }
    }
    for (decoder, options) in [
      ("mdlm", [:]), ("llada", ["steps": "8"]), ("fast-dllm", ["threshold": "0.9"]), ("dcd", ["s_init": "4"]),
      ("window-diffusion", ["window_tokens": "4", "active_tokens": "2", "refresh_cycle": "4"]),
    ] {
      for (a, b) in [(1234, 5678), (9999, 1), (4321, 0)] {
        let prompt = String(format: "%04d+%04d=", a, b)
        let (_, text) = try await solve("llada-addition", prompt, decoder: decoder, options: options)
        XCTAssertEqual(text, String(format: "%05d", a + b), "\(decoder) on \(prompt)")
      }
    }
  }

  struct TextSamples: Decodable {
    struct Sample: Decodable {
      let prompt: String
      let temperature: Double
      let gen_length: Int32
      let steps: Int
      let block_length: Int
      let text: String
    }
    let block_samples: [Sample]
  }

  /// `llada-shakespeare` through zood with LLaDA's decoder writes the text its PyTorch
  /// run wrote (models/llada-shakespeare/samples.json, one prompt at each of blocks 32,
  /// 8 and 4; all nine agree, checked by hand with the release build).
  func testLLaDAShakespeareMatchesPyTorch() async throws {
    let root = Paths.packageRoot.appendingPathComponent("models")
    let samples = try JSONDecoder().decode(
      TextSamples.self, from: Data(contentsOf: root.appendingPathComponent("llada-shakespeare/samples.json")))
    // One prompt per block size (debug builds decode slowly: 64 full passes each).
    var greedy: [TextSamples.Sample] = []
    for sample in samples.block_samples where sample.temperature == 0 && !greedy.contains(where: { $0.block_length == sample.block_length }) {
      greedy.append(sample)
    }
    XCTAssertEqual(greedy.map(\.block_length), [32, 8, 4])
    let z = try ZoodInstance()
    try z.addModel(from: root.appendingPathComponent("llada-shakespeare"), as: "llada-shakespeare")
    try z.start()
    for sample in greedy {
      let messages = try await z.generate(.with {
        $0.model = "llada-shakespeare"
        $0.prompt = sample.prompt
        $0.options = .with {
          $0.maxTokens = sample.gen_length
          $0.temperature = 0
          $0.decoder = "llada"
          $0.decoderOptions = ["steps": "\(sample.steps)", "block_length": "\(sample.block_length)"]
        }
      })
      XCTAssertEqual(messages.map(\.text).joined(), sample.text, "\(sample.prompt.debugDescription), block \(sample.block_length)")
    }
  }

  struct StarReference: Decodable {
    struct Prompt: Decodable {
      let prompt: String
      let greedy_insertions: String
    }
    let stop_threshold: Double
    let max_steps: Int
    let prompts: [Prompt]
  }

  struct InfillSamples: Decodable {
    struct Sample: Decodable {
      let template: String
      let filled: String
    }
    let stop_threshold: Double
    let max_steps: Int
    let suppress: String
    let samples: [Sample]
  }

  /// The insertion LMs through zood with the `ilm` decoder (their default) at temperature
  /// 0: `ilm-star-easy` finds the paths its PyTorch reference decoder found
  /// (reference.json), and `ilm-shakespeare` fills the templates of samples.json as its
  /// PyTorch run did, through gRPC and through `zoo infill`.
  func testInsertionModelsMatchPyTorch() async throws {
    let root = Paths.packageRoot.appendingPathComponent("models")
    let z = try ZoodInstance()
    for name in ["ilm-star-easy", "ilm-shakespeare"] { try z.addModel(from: root.appendingPathComponent(name), as: name) }
    try z.start()

    let star = try JSONDecoder().decode(
      StarReference.self, from: Data(contentsOf: root.appendingPathComponent("ilm-star-easy/reference.json")))
    XCTAssertGreaterThanOrEqual(star.prompts.count, 5)
    for p in star.prompts {
      let messages = try await z.generate(.with {
        $0.model = "ilm-star-easy"
        $0.prompt = p.prompt
        $0.options = .with {
          $0.temperature = 0
          $0.decoderOptions = ["stop_threshold": "\(star.stop_threshold)", "max_steps": "\(star.max_steps)"]
        }
      })
      XCTAssertEqual(messages.map(\.text).joined(), p.greedy_insertions, p.prompt)
      XCTAssertEqual(messages.last?.finishReason, .eos, p.prompt)
    }

    let infill = try JSONDecoder().decode(
      InfillSamples.self, from: Data(contentsOf: root.appendingPathComponent("ilm-shakespeare/samples.json")))
    let options = ["stop_threshold": "\(infill.stop_threshold)", "max_steps": "\(infill.max_steps)", "suppress": infill.suppress]
    for sample in infill.samples {
      let pieces = sample.template.components(separatedBy: "___")
      let messages = try await z.generate(.with {
        $0.model = "ilm-shakespeare"
        $0.segments = pieces.enumerated().map { i, piece in
          .with {
            $0.text = piece
            $0.gapAfter = i < pieces.count - 1
          }
        }
        $0.options = .with {
          $0.temperature = 0
          $0.decoderOptions = options
        }
      })
      XCTAssertEqual(messages.map(\.text).joined(), sample.filled, sample.template.debugDescription)
    }
    let first = try XCTUnwrap(infill.samples.first)
    let cli = try runProcess(
      try Paths.product("zoo").path,
      ["infill", "ilm-shakespeare", first.template, "--temperature", "0", "--socket", z.socket]
        + options.sorted { $0.key < $1.key }.flatMap { ["--option", "\($0.key)=\($0.value)"] })
    XCTAssertEqual(cli.status, 0, cli.stderr)
    XCTAssertEqual(cli.stdout, first.filled + "\n")
  }
}
