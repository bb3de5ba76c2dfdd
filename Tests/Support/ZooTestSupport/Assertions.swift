import XCTest
import ZooPluginKit

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
/// within `tolerance` (max abs error); prints the error for the record.
public func assertClose(
  _ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ what: String,
  file: StaticString = #filePath, line: UInt = #line
) {
  let error = maxAbsDifference(actual, expected)
  print("parity \(what): max abs error \(error) over \(expected.count) values")
  XCTAssertFalse(expected.isEmpty, "\(what): nothing to compare", file: file, line: line)
  XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
  XCTAssertLessThan(
    error, tolerance, "\(what): max abs error \(error) exceeds \(tolerance) (sizes \(actual.count), \(expected.count))",
    file: file, line: line)
}

/// Asserts two outputs differ somewhere by more than `margin` (so an equality check
/// elsewhere is not vacuous).
public func assertDiffer(
  _ a: [Float], _ b: [Float], margin: Float = 1e-3, _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
  let d = maxAbsDifference(a, b)
  XCTAssertTrue(d > margin && d.isFinite, "\(what): expected a difference above \(margin), got \(d)", file: file, line: line)
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
