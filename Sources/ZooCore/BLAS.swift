import COpenBLAS

/// Float32 linear algebra on row-major buffers, through OpenBLAS.
public enum BLAS {
  /// `y[rows, out] = x[rows, in] · Wᵀ (+ y if accumulate)`, with `W` in PyTorch
  /// `nn.Linear` layout `[out, in]`. One row goes through sgemv, several through sgemm.
  @inlinable
  public static func linear(
    _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
    weight: UnsafePointer<Float>, outFeatures: Int,
    into y: UnsafeMutablePointer<Float>, accumulate: Bool = false
  ) {
    let beta: Float = accumulate ? 1 : 0
    if rows == 1 {
      cblas_sgemv(
        CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), 1, weight, Int32(inFeatures),
        x, 1, beta, y, 1)
    } else {
      cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures), 1,
        x, Int32(inFeatures), weight, Int32(inFeatures), beta, y, Int32(outFeatures))
    }
  }

  /// General row-major `C[m, n] = alpha · op(A) · op(B) + beta · C` with explicit leading dimensions.
  @inlinable
  public static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// Threads OpenBLAS uses for one call.
  public static var threads: Int {
    get { Int(openblas_get_num_threads()) }
    set { openblas_set_num_threads(Int32(newValue)) }
  }
}
