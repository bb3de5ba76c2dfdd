import COpenBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    useThreads(multiplyAdds: rows * inFeatures * outFeatures)
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

  /// General row-major `C[m, n] = alpha · op(A) · op(B) + beta · C` with explicit leading
  /// dimensions; `onOneThread` for a caller that splits the work over threads itself.
  @inlinable
  public static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int, onOneThread: Bool = false
  ) {
    useThreads(multiplyAdds: onOneThread ? 0 : m * n * k)
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// Threads OpenBLAS may use for one call (zood's `--blas-threads`); a call with less
  /// than `multithreadedWork` multiply-adds uses one.
  ///
  /// The setting lives in the environment (`ZOO_BLAS_THREADS`) because it is
  /// process-wide while each plugin library carries its own copy of ZooCore; unset, it
  /// is OpenBLAS's own count at the first call (its `OPENBLAS_NUM_THREADS` or the cores).
  /// Set it before any thread calls BLAS: the environment is not safe to change then.
  public static var threads: Int {
    get {
      // Read for every product, so nothing here may allocate: a literal (a String variable
      // would be copied into a C string) and atoi (not Int(String(cString:))).
      if let text = getenv("ZOO_BLAS_THREADS"), case let count = Int(atoi(text)), count > 0 { return count }
      return openBLASThreadsAtStart
    }
    set {
      setenv("ZOO_BLAS_THREADS", "\(newValue)", 1)
      openblas_set_num_threads(Int32(newValue))
    }
  }

  /// Multiply-adds from which a call is split over `threads`: below, waking OpenBLAS's
  /// workers costs more than it saves, and one worker that the scheduler has put behind
  /// another process holds up the whole call (OpenBLAS splits work in fixed parts). At
  /// about 30 GFLOP/s per core this is 0.3 ms of work.
  public static let multithreadedWork = 1 << 22

  @usableFromInline static let openBLASThreadsAtStart = Int(openblas_get_num_threads())

  /// Sets OpenBLAS's thread count for a call of `multiplyAdds`: `threads`, or one for a
  /// small call.
  @usableFromInline
  static func useThreads(multiplyAdds: Int) {
    let wanted = Int32(multiplyAdds < multithreadedWork ? 1 : threads)
    if openblas_get_num_threads() != wanted { openblas_set_num_threads(wanted) }
  }
}
