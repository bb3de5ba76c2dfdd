import CFFTW
import Foundation

/// Real FFTs along time of `channels` interleaved channels, through FFTW in single
/// precision. A signal is `[n, channels]` row-major (time-major, channel fastest); its
/// spectrum is `[n/2 + 1, channels]` complex, interleaved (re, im), i.e. `2·channels`
/// floats per bin. Both directions are unnormalised, as FFTW defines them:
///
///     forward:  X[f] = Σ_t x[t] e^{−2πi f t/n}            (torch.fft.rfft)
///     inverse:  x[t] = Σ_{f<n} X[f] e^{+2πi f t/n}        (torch.fft.irfft, norm='forward')
///
/// The inverse ignores the imaginary parts of the DC and (n even) Nyquist bins, as
/// torch's irfft does: `inverse` zeroes them before FFTW reads them.
///
/// Plans are made once per (n, channels) and shared (`RealFFT.plan`); executing a plan on
/// new arrays is thread-safe, making one is not, hence the lock. Arrays passed to
/// `forward` / `inverse` must come from an `FFTWorkspace` (FFTW's alignment).
final class RealFFT: @unchecked Sendable {
  let n: Int
  let channels: Int
  var bins: Int { n / 2 + 1 }
  private let forwardPlan: fftwf_plan
  private let inversePlan: fftwf_plan

  private init(n: Int, channels: Int) {
    self.n = n
    self.channels = channels
    // FFTW_ESTIMATE neither reads nor writes the arrays, which only fix the alignment the
    // plans will be executed with (that of fftwf_malloc, as FFTWorkspace's regions).
    let real = fftwf_alloc_real(n * channels)!
    let complex = fftwf_alloc_complex((n / 2 + 1) * channels)!
    defer {
      fftwf_free(real)
      fftwf_free(complex)
    }
    var size = Int32(n)
    let c = Int32(channels)
    forwardPlan = fftwf_plan_many_dft_r2c(1, &size, c, real, nil, c, 1, complex, nil, c, 1, UInt32(FFTW_ESTIMATE))!
    inversePlan = fftwf_plan_many_dft_c2r(1, &size, c, complex, nil, c, 1, real, nil, c, 1, UInt32(FFTW_ESTIMATE))!
  }

  private nonisolated(unsafe) static var plans: [Int: [Int: RealFFT]] = [:]
  private static let lock = NSLock()
  /// FFTW's own planner lock, for planners in other libraries of the same process.
  private static let plannerMadeThreadSafe: Void = fftwf_make_planner_thread_safe()

  /// The shared transforms of length `n` over `channels` channels.
  static func plan(n: Int, channels: Int) -> RealFFT {
    precondition(n > 0 && channels > 0)
    lock.lock()
    defer { lock.unlock() }
    if let cached = plans[n]?[channels] { return cached }
    _ = plannerMadeThreadSafe
    let made = RealFFT(n: n, channels: channels)
    plans[n, default: [:]][channels] = made
    return made
  }

  /// `spectrum = rfft(signal)`; `signal` [n, channels] is left unchanged.
  func forward(_ signal: UnsafeMutablePointer<Float>, into spectrum: UnsafeMutablePointer<Float>) {
    spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: bins * channels) {
      fftwf_execute_dft_r2c(forwardPlan, signal, $0)
    }
  }

  /// `signal = irfft(spectrum, norm='forward')`; destroys `spectrum`.
  func inverse(_ spectrum: UnsafeMutablePointer<Float>, into signal: UnsafeMutablePointer<Float>) {
    let last = (n % 2 == 0 ? bins - 1 : 0) * 2 * channels
    for c in 0..<channels {
      spectrum[2 * c + 1] = 0
      spectrum[last + 2 * c + 1] = 0
    }
    spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: bins * channels) {
      fftwf_execute_dft_c2r(inversePlan, $0, signal)
    }
  }
}

/// Scratch memory for one call, carved into regions aligned as FFTW wants (64 bytes).
final class FFTWorkspace {
  private let base: UnsafeMutablePointer<Float>
  private let capacity: Int
  private var used = 0

  /// Room for regions of the given float counts.
  init(counts: [Int]) {
    capacity = counts.reduce(0) { $0 + Self.rounded($1) }
    base = fftwf_alloc_real(max(capacity, 16))!
  }

  deinit { fftwf_free(base) }

  private static func rounded(_ count: Int) -> Int { (count + 15) / 16 * 16 }

  /// The next region of `count` floats (uninitialised).
  func take(_ count: Int) -> UnsafeMutablePointer<Float> {
    let region = base + used
    used += Self.rounded(count)
    precondition(used <= capacity, "FFTWorkspace sized too small")
    return region
  }
}
