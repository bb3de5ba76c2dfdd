import Foundation
import ZooCore

/// What a masked-diffusion step predicts for one masked position: the token it would
/// write and how sure it is, by the decoder's confidence measure.
struct Prediction {
  let position: Int
  let token: Int32
  let confidence: Double
}

/// How a step scores its candidates.
enum ConfidenceMeasure {
  /// Softmax probability of the predicted token (LLaDA's low_confidence remasking, and
  /// Fast-dLLM's, DCD's and Window-Diffusion's confidence).
  case probability
  /// A uniform random number (LLaDA's random remasking).
  case random
}

extension Xoshiro256 {
  /// A uniform number in (0, 1) with 53 bits (never 0, so log(−log u) is finite).
  mutating func openUnit() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }
}

/// Picks tokens from logit rows: argmax at temperature 0, else the Gumbel-max trick in
/// float64 as LLaDA's `add_gumbel_noise` does (argmax of exp(l) / (−log u)^T, which is
/// argmax of l − T·log(−log u)); and scores them. Softmax is computed in float64
/// (Fast-dLLM's get_transfer_index) so near-equal confidences rank as the reference does.
struct Predictor {
  let temperature: Double
  let measure: ConfidenceMeasure
  /// Tokens never predicted (their logits are −∞ first): LLaDA's logits_eos_inf, MDLM's
  /// and DCD's mask.
  let excluded: Set<Int32>
  /// Tokens never predicted but kept in the softmax that scores the others: the mask
  /// token for the decoders whose official code leaves its logit as it is (LLaDA,
  /// Fast-dLLM, Window-Diffusion), which zoo cannot commit (the slot would stay masked).
  let neverPicked: Set<Int32>
  /// Tokens whose probability is taken as 0 when scoring (LLaDA's confidence_eos_eot_inf).
  let unscored: Set<Int32>
  var rng: Xoshiro256

  init(
    temperature: Double, measure: ConfidenceMeasure = .probability, excluded: Set<Int32> = [],
    neverPicked: Set<Int32> = [], unscored: Set<Int32> = [], seed: UInt64
  ) {
    self.temperature = temperature
    self.measure = measure
    self.excluded = excluded
    self.neverPicked = neverPicked
    self.unscored = unscored
    rng = Xoshiro256(seed: seed)
  }

  /// The prediction for `position` from its logits row.
  mutating func predict(_ logits: UnsafeBufferPointer<Float>, at position: Int) -> Prediction {
    var best = -Double.infinity
    var token: Int32 = 0
    for (v, l) in logits.enumerated() where !excluded.contains(Int32(v)) && !neverPicked.contains(Int32(v)) {
      var score = Double(l)
      if temperature > 0 { score -= temperature * log(-log(rng.openUnit())) }
      if score > best {
        best = score
        token = Int32(v)
      }
    }
    return Prediction(position: position, token: token, confidence: confidence(of: token, logits))
  }

  private mutating func confidence(of token: Int32, _ logits: UnsafeBufferPointer<Float>) -> Double {
    if measure == .random { return rng.openUnit() }
    if unscored.contains(token) { return 0 }
    let skip = excluded.union(unscored)
    var top = -Double.infinity
    for (v, l) in logits.enumerated() where !skip.contains(Int32(v)) { top = max(top, Double(l)) }
    var sum = 0.0
    for (v, l) in logits.enumerated() where !skip.contains(Int32(v)) { sum += exp(Double(l) - top) }
    return exp(Double(logits[Int(token)]) - top) / sum
  }
}

extension Array where Element == Prediction {
  /// The `k` most confident, most confident first (ties: the leftmost first).
  func mostConfident(_ k: Int) -> [Prediction] {
    Array(sorted { $0.confidence != $1.confidence ? $0.confidence > $1.confidence : $0.position < $1.position }.prefix(k))
  }

  /// Fast-dLLM's and DCD's threshold rule: the most confident always, and every other
  /// whose confidence reaches `threshold`.
  func aboveThreshold(_ threshold: Double) -> [Prediction] {
    let ranked = mostConfident(count)
    guard let first = ranked.first else { return [] }
    return [first] + ranked.dropFirst().filter { $0.confidence >= threshold }
  }
}

/// LLaDA's `get_num_transfer_tokens`: `masked` tokens spread evenly over `steps` steps,
/// the remainder to the first steps.
func transferSchedule(masked: Int, steps: Int) -> [Int] {
  let base = masked / steps
  let remainder = masked % steps
  return (0..<steps).map { base + ($0 < remainder ? 1 : 0) }
}
