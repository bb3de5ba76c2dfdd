import Foundation

/// Options that turn a logit row into a chosen token.
public struct SamplingOptions: Sendable, Equatable {
  /// 0 means greedy (argmax).
  public var temperature: Float
  /// 0 means no limit.
  public var topK: Int
  /// 1 means no nucleus filter.
  public var topP: Float
  public var seed: UInt64

  public init(temperature: Float, topK: Int, topP: Float, seed: UInt64) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.seed = seed
  }
}

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64: small, fast, and the
/// same sequence on every platform, which `SystemRandomNumberGenerator` is not.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var x = seed
    func splitmix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s = (splitmix(), splitmix(), splitmix(), splitmix())
  }

  public mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = (s.3 << 45) | (s.3 >> 19)
    return result
  }

  /// A uniform float in [0, 1) from the top 24 bits.
  public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }
}

/// Chooses tokens from logits: greedy, or temperature with top-k and top-p filters.
/// The same seed, logits and options give the same choices.
public struct Sampler: Sendable {
  public let options: SamplingOptions
  private var rng: Xoshiro256
  // Scratch reused across steps so sampling allocates nothing per token.
  private var candidates: [(id: Int32, logit: Float)] = []

  public init(options: SamplingOptions) {
    self.options = options
    self.rng = Xoshiro256(seed: options.seed)
  }

  public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
    if options.temperature == 0 { return Self.argmax(logits) }
    candidates.removeAll(keepingCapacity: true)
    let k = options.topK > 0 ? min(options.topK, logits.count) : logits.count
    if k < logits.count {
      Self.largest(k, of: logits, into: &candidates)
    } else {
      for i in logits.indices { candidates.append((Int32(i), logits[i])) }
    }
    candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
    // Softmax with temperature over the survivors.
    let invT = 1 / options.temperature
    let top = candidates[0].logit
    var total: Float = 0
    for i in candidates.indices {
      let p = expf((candidates[i].logit - top) * invT)
      candidates[i].logit = p
      total += p
    }
    // Nucleus: the smallest prefix whose mass reaches top_p.
    var keep = candidates.count
    if options.topP < 1 {
      var mass: Float = 0
      for i in candidates.indices {
        mass += candidates[i].logit / total
        if mass >= options.topP { keep = i + 1; break }
      }
    }
    var kept: Float = 0
    for i in 0..<keep { kept += candidates[i].logit }
    let r = rng.nextUnitFloat() * kept
    var acc: Float = 0
    for i in 0..<keep {
      acc += candidates[i].logit
      if r < acc { return candidates[i].id }
    }
    return candidates[keep - 1].id
  }

  /// Index of the largest logit; the lowest index wins ties.
  public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
    var best = 0
    var bestValue = -Float.infinity
    for i in logits.indices where logits[i] > bestValue {
      bestValue = logits[i]
      best = i
    }
    return Int32(best)
  }

  /// The `k` largest entries (unordered), by a bounded min-heap: O(n log k).
  static func largest(_ k: Int, of logits: UnsafeBufferPointer<Float>, into heap: inout [(id: Int32, logit: Float)]) {
    func less(_ a: (id: Int32, logit: Float), _ b: (id: Int32, logit: Float)) -> Bool {
      a.logit < b.logit || (a.logit == b.logit && a.id > b.id)
    }
    func siftDown(_ start: Int) {
      var i = start
      while true {
        let l = 2 * i + 1, r = l + 1
        var m = i
        if l < heap.count && less(heap[l], heap[m]) { m = l }
        if r < heap.count && less(heap[r], heap[m]) { m = r }
        if m == i { return }
        heap.swapAt(i, m)
        i = m
      }
    }
    for i in logits.indices {
      let item = (id: Int32(i), logit: logits[i])
      if heap.count < k {
        heap.append(item)
        var c = heap.count - 1
        while c > 0 {
          let p = (c - 1) / 2
          if less(heap[c], heap[p]) { heap.swapAt(c, p); c = p } else { break }
        }
      } else if less(heap[0], item) {
        heap[0] = item
        siftDown(0)
      }
    }
  }
}

/// Log-probabilities of the model's own distribution (log-softmax of the raw logits,
/// before temperature and filters), as OpenAI-style `logprobs` report them.
public struct LogProbabilities {
  public let logSumExp: Float

  public init(_ logits: UnsafeBufferPointer<Float>) {
    var m = -Float.infinity
    for v in logits where v > m { m = v }
    var s: Float = 0
    for v in logits { s += expf(v - m) }
    logSumExp = m + logf(s)
  }

  public func logprob(_ logit: Float) -> Float { logit - logSumExp }

  /// The `n` most likely tokens with their logprobs, most likely first.
  public func top(_ n: Int, of logits: UnsafeBufferPointer<Float>) -> [(id: Int32, logprob: Float)] {
    guard n > 0 else { return [] }
    var heap: [(id: Int32, logit: Float)] = []
    Sampler.largest(min(n, logits.count), of: logits, into: &heap)
    heap.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
    return heap.map { ($0.id, $0.logit - logSumExp) }
  }
}
