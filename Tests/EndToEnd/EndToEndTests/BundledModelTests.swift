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
      FileManager.default.fileExists(atPath: root.appendingPathComponent("\($0)/reference.json").path)
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
}
