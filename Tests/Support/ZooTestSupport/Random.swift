import Foundation

/// SplitMix64: a small, reproducible generator for test weights and inputs.
public struct SplitMix64 {
  public var state: UInt64
  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [0, 1), 24 bits.
  public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

  /// Uniform in (0, 1), 53 bits, never 0 (safe under log).
  public mutating func nextOpenUnit() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }
}

/// A reproducible stream of N(0, 1) floats (SplitMix64 + Box–Muller).
public struct NormalGenerator {
  private var uniform: SplitMix64
  public init(seed: UInt64) { uniform = SplitMix64(seed: seed) }

  public mutating func next() -> Float {
    let radius = (-2 * log(uniform.nextOpenUnit())).squareRoot()
    return Float(radius * cos(2 * .pi * uniform.nextOpenUnit()))
  }

  /// `count` values of N(offset, scale²).
  public mutating func values(_ count: Int, scale: Float = 1, offset: Float = 0) -> [Float] {
    (0..<count).map { _ in offset + scale * next() }
  }
}
