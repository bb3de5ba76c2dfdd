import XCTest
import ZooCore
import ZooPluginKit

/// float32's unit roundoff u = 2⁻²⁴ ≈ 6.0e-8: the largest relative error of one
/// correctly rounded float32 operation. Tolerances are stated in units of u.
public let float32Roundoff: Float = Float.ulpOfOne / 2

/// The scale a float32 computation's rounding error is proportional to: the largest
/// |value| of what it produced (a sum's rounding error grows with the magnitudes summed,
/// not with how close to 0 one element lands). 0 for an empty array.
public func scale(of values: [Float]) -> Float {
  values.reduce(0) { max($0, abs($1)) }
}

/// How far a float32 result may be from what it is checked against: `roundoffs` units of
/// float32 roundoff times the scale of the expected values, |actual − expected| ≤
/// roundoffs · u · max|expected|. A bound relative to the outputs' scale holds on every
/// CPU: another BLAS kernel (OpenBLAS picks one per CPU: Haswell, Zen, SkylakeX, ...)
/// adds the same terms in another order, which moves each result by a few u of the
/// magnitudes summed, never by a fixed absolute amount.
///
/// Each kind of comparison has its own constant, with the reason for its size; the
/// largest error seen against each, under six OpenBLAS kernels, is in Tests/README.md.
public struct Tolerance: Sendable, CustomStringConvertible {
  /// The bound in units of u · scale.
  public let roundoffs: Float
  /// What kind of comparison this is, for the printed record.
  public let kind: String

  public init(roundoffs: Float, kind: String) {
    self.roundoffs = roundoffs
    self.kind = kind
  }

  /// zoo's float32 output against the official implementation's float32 output (the
  /// fixtures). Both sides round differently (other summation orders, other exp, erf and
  /// FFT implementations): the fixture READMEs measure the official float32 outputs
  /// within 14 u·scale of float64, and zoo's own error is of the same order, so their
  /// difference stays within a few tens of u·scale (23 the largest seen). The bound,
  /// 512 u·scale (3.1e-5 relative to the largest output), leaves 20× for deeper models
  /// and other kernels, while a real defect (a missing bias, a position off by one, a
  /// wrong gate layout) moves outputs by 1e-3 · scale or more, 30× above it.
  public static let official = Tolerance(roundoffs: 512, kind: "official")

  /// zoo's float32 output against a float64 reference of the same definition computed in
  /// the test: only zoo's own rounding counts, so half the bound of `official` (13 u·scale
  /// the largest seen, on a 300-token Mamba-2 scan).
  public static let float64Reference = Tolerance(roundoffs: 256, kind: "float64")

  /// Two zoo paths that compute the same math with sums grouped differently: a prefill
  /// in one call or in chunks, token-by-token steps against a parallel scan, a causal
  /// mask against a block mask of 1, or the same rows in a GEMM of another row count
  /// (OpenBLAS computes the rows left over after its tiles, and single rows, with other
  /// kernels that round differently: a row of a 1-row call and of a 700-row call differ
  /// in the last bits on Haswell and Zen, even on one thread). Each side is a few
  /// u·scale from exact per reduction, over a few layers of reductions of at most a few
  /// hundred terms. 256 u·scale (1.5e-5 relative) bounds that with 20× margin over the
  /// largest seen on any kernel (12 u·scale).
  public static let reordered = Tolerance(roundoffs: 256, kind: "reordered")

  /// The largest |actual − expected| this tolerance allows for `expected`.
  public func bound(for expected: [Float]) -> Float { roundoffs * float32Roundoff * scale(of: expected) }

  public var description: String { "\(kind) (\(Int(roundoffs)) u·scale)" }
}

/// Largest |a[i] − b[i]|; infinity when the lengths differ or a value is NaN.
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count else { return .infinity }
  var worst: Float = 0
  for (x, y) in zip(a, b) {
    let d = abs(x - y)
    if d.isNaN { return .infinity }
    worst = max(worst, d)
  }
  return worst
}

/// Asserts `actual` has the size of `expected`, which is not empty, and agrees with it
/// within `tolerance`; prints the error in units of u·scale for the record
/// (Tests/README.md collects the largest per kind).
public func assertClose(
  _ actual: [Float], _ expected: [Float], _ tolerance: Tolerance, _ what: String,
  file: StaticString = #filePath, line: UInt = #line
) {
  let error = maxAbsDifference(actual, expected)
  let bound = tolerance.bound(for: expected)
  let units = error / (float32Roundoff * scale(of: expected))
  print("tolerance \(tolerance.kind): \(units) of \(Int(tolerance.roundoffs)) u·scale, \(what) (max abs error \(error))")
  XCTAssertFalse(expected.isEmpty, "\(what): nothing to compare", file: file, line: line)
  XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
  XCTAssertLessThanOrEqual(
    error, bound,
    "\(what): max abs error \(error) is \(units) u·scale, above the \(tolerance) bound \(bound) (scale \(scale(of: expected)))",
    file: file, line: line)
}

/// Asserts two float32 results are bit for bit the same: for two zoo paths that perform
/// the same operations in the same order (a refused call leaving a state as it was, a
/// copied state continued like the original), where any difference is a defect.
public func assertIdentical(
  _ actual: [Float], _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertFalse(expected.isEmpty, "\(what): nothing to compare", file: file, line: line)
  XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
  if let i = zip(actual, expected).enumerated().first(where: { $0.element.0.bitPattern != $0.element.1.bitPattern })?.offset {
    XCTFail(
      "\(what): not identical: first at index \(i), \(actual[i]) vs \(expected[i]) (max abs difference \(maxAbsDifference(actual, expected)))",
      file: file, line: line)
  }
}

/// Asserts two outputs differ somewhere by more than 1e-3 · scale (of `b`): 30× the
/// largest tolerance, so a difference this size is not rounding, and the closeness
/// checks beside it are not vacuous.
public func assertDiffer(
  _ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
  let d = maxAbsDifference(a, b)
  let margin = 1e-3 * scale(of: b)
  XCTAssertTrue(
    d > margin && d.isFinite, "\(what): expected a difference above \(margin) (1e-3 · scale), got \(d)", file: file,
    line: line)
}

/// The PluginError statuses tests expect, by name.
public enum PluginErrorKind: Sendable {
  case invalidArgument, notFound, failedPrecondition, outOfRange, cancelled, internalError

  /// A PluginError of this kind (its status is what the assertions compare).
  public var prototype: PluginError {
    switch self {
    case .invalidArgument: .invalidArgument("")
    case .notFound: .notFound("")
    case .failedPrecondition: .failedPrecondition("")
    case .outOfRange: .outOfRange("")
    case .cancelled: .cancelled()
    case .internalError: .internalError("")
    }
  }
}

/// Asserts that `body` throws a PluginError of `kind` whose message contains every
/// fragment.
public func assertPluginError(
  _ kind: PluginErrorKind, containing fragments: [String], _ what: String,
  file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) {
  do {
    try body()
    XCTFail("\(what): expected an error, but the call succeeded", file: file, line: line)
  } catch let error as PluginError {
    XCTAssertEqual(error.code, kind.prototype.code, "\(what): wrong status for '\(error.message)'", file: file, line: line)
    for fragment in fragments {
      XCTAssertTrue(
        error.message.contains(fragment), "\(what): message '\(error.message)' does not mention '\(fragment)'",
        file: file, line: line)
    }
  } catch {
    XCTFail("\(what): expected a PluginError, got \(error)", file: file, line: line)
  }
}

extension Tolerance {
  /// Weights kept in `format` against the official float32 outputs. The weights
  /// themselves are rounded (relative step 2⁻¹¹ for F16, 2⁻⁸ for BF16, up to 1/254 of a
  /// block's largest value for Q8), so the outputs move by far more than float32's
  /// rounding: on the Mamba and Mamba-2 fixtures the largest seen are 21,168 u·scale
  /// (F16), 184,397 (BF16) and 384,287 (Q8), 1.3e-3, 1.1e-2 and 2.3e-2 of the largest
  /// logit. The bounds leave 5-6× over those. They catch a format read wrongly (a wrong
  /// scale, byte order or block, which moves outputs by the order of the scale); the
  /// model's own math is held to `official` in float32.
  public static func weights(_ format: WeightMatrix.Format) -> Tolerance {
    switch format {
    case .f32: .official
    case .f16: Tolerance(roundoffs: 131_072, kind: "F16 weights")
    case .bf16: Tolerance(roundoffs: 1_048_576, kind: "BF16 weights")
    case .q8: Tolerance(roundoffs: 2_097_152, kind: "Q8 weights")
    }
  }
}
