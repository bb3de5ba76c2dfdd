import COpenBLAS
import XCTest
import ZooCore

/// OpenBLAS's thread count is chosen per call: one for a small product, `BLAS.threads`
/// for a large one, and the setting survives the small calls.
final class BLASThreadsTests: XCTestCase {
  func testSmallCallsUseOneThreadAndKeepTheSetting() {
    let before = BLAS.threads
    defer { BLAS.threads = before }
    BLAS.threads = 2
    func multiply(_ n: Int) {
      let a = [Float](repeating: 1, count: n * n)
      var c = [Float](repeating: 0, count: n * n)
      BLAS.gemm(transA: false, transB: true, m: n, n: n, k: n, a, lda: n, a, ldb: n, &c, ldc: n)
      XCTAssertEqual(c[n * n - 1], Float(n))
    }
    multiply(8)
    XCTAssertEqual(openblas_get_num_threads(), 1, "a 512 multiply-add product woke OpenBLAS's workers")
    XCTAssertEqual(BLAS.threads, 2, "a small product lost the setting")
    multiply(256)
    XCTAssertEqual(openblas_get_num_threads(), 2, "a 16M multiply-add product ran on one thread")
  }
}
