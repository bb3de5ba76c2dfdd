import COpenBLAS

extension BLAS {
  /// Solves `A · X = B` for X in place (B is overwritten with X), through OpenBLAS
  /// `strsm`. `A[m, m]` is row-major lower triangular with leading dimension `lda`; with
  /// `unitDiagonal` its diagonal is taken as ones and only the part strictly below it is
  /// read, so the diagonal and upper part may hold anything. `B[m, n]` has leading
  /// dimension `ldb`.
  @inlinable
  public static func solveLowerTriangular(
    m: Int, n: Int, _ a: UnsafePointer<Float>, lda: Int, unitDiagonal: Bool,
    _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    useThreads(multiplyAdds: m * m * n / 2)
    cblas_strsm(
      CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, unitDiagonal ? CblasUnit : CblasNonUnit,
      Int32(m), Int32(n), 1, a, Int32(lda), b, Int32(ldb))
  }
}
