#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ZooCore
import ZooPluginKit

/// Copies of the large weight matrices in anonymous memory backed by transparent huge
/// pages (2 MiB).
///
/// Decoding reads every matrix once per token and is bound by memory bandwidth; with the
/// checkpoint's 4 KiB file pages a 154 MB GEMV walks some 38,000 pages and measured
/// 10–20% slower than the same GEMV over huge pages on the project's machines. The copy
/// costs one pass at load; the mapped file pages it replaces are then never touched and
/// the kernel can drop them. Where huge pages are unavailable the copy is still correct,
/// only not faster.
final class HugePageArena: @unchecked Sendable {
  /// Each region is a separate mapping, its usable part aligned to 2 MiB; matrices never
  /// straddle two.
  private var regions: [Region] = []
  private var used = 0
  /// Bytes copied in (the part of the mappings ever touched), for `HeldMemory`.
  private var copied = 0

  private struct Region {
    /// The whole mapping, for munmap.
    var mapping: UnsafeMutableRawPointer
    var mappedBytes: Int
    /// The 2 MiB-aligned usable part.
    var base: UnsafeMutableRawPointer
    var bytes: Int
  }
  private static let hugePage = 2 << 20
  private static let regionBytes = 64 << 20

  /// Whether builders copy matrices here: yes unless ZOO_HUGE_PAGE_WEIGHTS=0 (for
  /// comparing, or to keep memory to the mapped file alone).
  static var isEnabled: Bool {
    ProcessInfo.processInfo.environment["ZOO_HUGE_PAGE_WEIGHTS"] != "0"
  }

  deinit {
    HeldMemory.add(-copied)
    for region in regions { munmap(region.mapping, region.mappedBytes) }
  }

  /// The matrix copied into huge-page memory (values and block scales), kept alive by
  /// this arena; the matrix itself when no memory could be mapped.
  func place(_ matrix: WeightMatrix) -> WeightMatrix {
    let valueBytes = matrix.rows * matrix.columns * matrix.format.elementBytes
    guard let data = copy(matrix.data, bytes: valueBytes) else { return matrix }
    var scales: UnsafePointer<Float>?
    if let s = matrix.scales {
      guard let copied = copy(s, bytes: matrix.byteCount - valueBytes) else { return matrix }
      scales = copied.assumingMemoryBound(to: Float.self)
    }
    return WeightMatrix(
      format: matrix.format, rows: matrix.rows, columns: matrix.columns, data: data, scales: scales, owners: [self])
  }

  /// `bytes` from `source` copied into huge-page memory, or nil when none could be mapped.
  private func copy(_ source: UnsafeRawPointer, bytes: Int) -> UnsafeRawPointer? {
    // 64-byte alignment keeps rows on cache-line boundaries for the GEMV kernels.
    let aligned = (bytes + 63) & ~63
    if regions.isEmpty || used + aligned > regions[regions.count - 1].bytes {
      let size = max(Self.regionBytes, (aligned + Self.hugePage - 1) / Self.hugePage * Self.hugePage)
      // Map one huge page more than needed, so the usable part can start 2 MiB-aligned.
      let mappedBytes = size + Self.hugePage
      guard let mapping = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        mapping != MAP_FAILED
      else { return nil }
      let offset = (Self.hugePage - Int(bitPattern: mapping) % Self.hugePage) % Self.hugePage
      let base = mapping + offset
      _ = madvise(base, size, Int32(MADV_HUGEPAGE))
      regions.append(Region(mapping: mapping, mappedBytes: mappedBytes, base: base, bytes: size))
      used = 0
    }
    let destination = regions[regions.count - 1].base + used
    destination.copyMemory(from: source, byteCount: bytes)
    used += aligned
    copied += aligned
    HeldMemory.add(aligned)
    return UnsafeRawPointer(destination)
  }
}
