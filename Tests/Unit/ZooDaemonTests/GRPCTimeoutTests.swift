import XCTest

@testable import ZooDaemon

/// zood reads the client's `grpc-timeout` to tell a deadline from a cancel.
final class GRPCTimeoutTests: XCTestCase {
  func testParsesEveryUnit() {
    XCTAssertEqual(ZooService.parseTimeout("300m"), .milliseconds(300))
    XCTAssertEqual(ZooService.parseTimeout("2H"), .seconds(7200))
    XCTAssertEqual(ZooService.parseTimeout("5M"), .seconds(300))
    XCTAssertEqual(ZooService.parseTimeout("12S"), .seconds(12))
    XCTAssertEqual(ZooService.parseTimeout("99999999u"), .microseconds(99_999_999))
    XCTAssertEqual(ZooService.parseTimeout("7n"), .nanoseconds(7))
  }

  func testRefusesMalformedValues() {
    for bad in ["", "m", "300", "300x", "-1S", "123456789S", "1.5S"] {
      XCTAssertNil(ZooService.parseTimeout(bad), bad)
    }
  }
}
