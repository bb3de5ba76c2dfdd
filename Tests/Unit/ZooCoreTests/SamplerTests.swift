import XCTest

@testable import ZooCore

final class SamplerTests: XCTestCase {
  /// A fixed, spread-out distribution over 64 tokens.
  let logits: [Float] = (0..<64).map { i in Float((i * 37) % 64) / 16 - 2 }

  func draw(_ options: SamplingOptions, count: Int = 200) -> [Int32] {
    var sampler = Sampler(options: options)
    return logits.withUnsafeBufferPointer { l in (0..<count).map { _ in sampler.sample(l) } }
  }

  func testSameSeedSameTokens() {
    let o = SamplingOptions(temperature: 1, topK: 0, topP: 1, seed: 42)
    XCTAssertEqual(draw(o), draw(o))
  }

  func testDifferentSeedsDiffer() {
    let a = draw(SamplingOptions(temperature: 1, topK: 0, topP: 1, seed: 1))
    let b = draw(SamplingOptions(temperature: 1, topK: 0, topP: 1, seed: 2))
    XCTAssertNotEqual(a, b)
    XCTAssertGreaterThan(Set(a).count, 10, "temperature 1 over 64 tokens should spread")
  }

  func testGreedyIsArgmaxLowestIdOnTies() {
    let best = Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
    XCTAssertEqual(Set(draw(SamplingOptions(temperature: 0, topK: 40, topP: 0.9, seed: 7))), [best])
    let tied: [Float] = [0, 3, 1, 3]
    XCTAssertEqual(tied.withUnsafeBufferPointer { Sampler.argmax($0) }, 1)
  }

  func testTopKOneAndTinyTopPAreGreedy() {
    let best = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
    XCTAssertEqual(Set(draw(SamplingOptions(temperature: 1, topK: 1, topP: 1, seed: 3))), [best])
    XCTAssertEqual(Set(draw(SamplingOptions(temperature: 1, topK: 0, topP: 1e-6, seed: 3))), [best])
  }

  func testTopKKeepsOnlyTheKMostLikely() {
    let top5 = Set(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5).map(Int32.init))
    let drawn = Set(draw(SamplingOptions(temperature: 5, topK: 5, topP: 1, seed: 9), count: 500))
    XCTAssertTrue(drawn.isSubset(of: top5), "\(drawn) ⊄ \(top5)")
    XCTAssertEqual(drawn.count, 5, "high temperature should reach all five")
  }

  func testFrequenciesFollowSoftmax() {
    let small: [Float] = [0, log(3)]  // probabilities 1/4, 3/4
    var sampler = Sampler(options: SamplingOptions(temperature: 1, topK: 0, topP: 1, seed: 11))
    let n = 20000
    let ones = small.withUnsafeBufferPointer { l in (0..<n).filter { _ in sampler.sample(l) == 1 }.count }
    // The count is binomial: σ = √(0.75 · 0.25 / n) ≈ 0.003, so 0.02 is 6.5 σ (and the
    // seed is fixed, so the draw is the same on every machine).
    XCTAssertEqual(Double(ones) / Double(n), 0.75, accuracy: 0.02)
  }

  func testLogprobsAreLogSoftmax() {
    let l: [Float] = [1, 2, 3]
    let z = exp(Float(1)) + exp(2) + exp(3)
    l.withUnsafeBufferPointer { p in
      let lp = LogProbabilities(p)
      // Both sides round the log-sum-exp (≈ 3.4) in float32 by a few u each; 1e-5 is
      // 50 u of it, far below the 1.0 between neighbouring logprobs here.
      XCTAssertEqual(lp.logprob(3), 3 - log(z), accuracy: 1e-5)
      let top = lp.top(2, of: p)
      XCTAssertEqual(top.map(\.id), [2, 1])
      XCTAssertEqual(top[1].logprob, 2 - log(z), accuracy: 1e-5)
    }
  }
}
