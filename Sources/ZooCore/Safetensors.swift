import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Element types a safetensors file may hold, with their sizes in bytes.
public enum DType: String, Sendable, CaseIterable {
  case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

  public var byteSize: Int {
    switch self {
    case .f64, .i64: 8
    case .f32, .i32: 4
    case .f16, .bf16, .i16: 2
    case .i8, .u8, .bool: 1
    }
  }
}

/// One tensor inside a mapped safetensors file. Never owns its bytes.
public struct TensorEntry: @unchecked Sendable {
  public let name: String
  public let dtype: DType
  public let shape: [Int]
  /// Read-only pointer into the mapping; valid while the owning file is alive.
  public let data: UnsafeRawPointer
  public let byteCount: Int

  public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors loading failure that names the file and, where it applies, the tensor.
public struct SafetensorsError: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let tensor: String?
  public let reason: String

  public var description: String {
    if let tensor { return "\(path): tensor '\(tensor)': \(reason)" }
    return "\(path): \(reason)"
  }
}

/// The header of a safetensors file, read and validated without reading the data: its
/// length fits the file, every entry has a known dtype, offsets lie inside the data
/// section, byte sizes match shape and dtype, and no two tensors overlap.
/// Format: https://github.com/huggingface/safetensors
public struct SafetensorsHeader: Sendable {
  /// One tensor's place in the file: its bytes are `dataStart + range` of the file.
  public struct Entry: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let range: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
  }

  public let path: String
  /// The file's size when the header was read.
  public let fileSize: Int
  /// Where the data section starts: 8 + the header's length.
  public let dataStart: Int
  /// Entries in file order (by data offset).
  public let entries: [Entry]
  public let metadata: [String: String]

  // Header sizes beyond this are refused rather than parsed: real headers are kilobytes.
  static let maxHeaderBytes = 100 << 20

  /// Reads the header of `path` (a regular file; see `RegularFile`).
  public init(path: String) throws {
    let file = try RegularFile.open(path)
    defer { file.close() }
    try self.init(file)
  }

  init(_ file: RegularFile.Handle) throws {
    path = file.path
    fileSize = file.size
    func fail(_ reason: String, _ tensor: String? = nil) -> SafetensorsError {
      SafetensorsError(path: file.path, tensor: tensor, reason: reason)
    }
    guard file.size >= 8 else { throw fail("file is \(file.size) bytes, too short for a safetensors header") }
    var rawLength: UInt64 = 0
    try file.read(into: &rawLength, count: 8, at: 0)
    // Compared as UInt64: a length of 2^63 or more must be refused, not converted.
    let length = UInt64(littleEndian: rawLength)
    guard length > 0, length <= UInt64(Self.maxHeaderBytes), length <= UInt64(file.size - 8) else {
      throw fail("its first 8 bytes give a header length that does not fit in a file of \(file.size) bytes; not a safetensors file, or truncated")
    }
    let headerLength = Int(length)
    var headerData = Data(count: headerLength)
    try headerData.withUnsafeMutableBytes { try file.read(into: $0.baseAddress!, count: headerLength, at: 8) }
    guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
      throw fail("header is not a JSON object")
    }
    dataStart = 8 + headerLength
    let dataLength = file.size - dataStart
    var entries: [Entry] = []
    var meta: [String: String] = [:]
    for (name, value) in header {
      if name == "__metadata__" {
        if let m = value as? [String: Any] { for (k, v) in m { meta[k] = "\(v)" } }
        continue
      }
      guard let info = value as? [String: Any] else { throw fail("entry is not an object", name) }
      guard let dtypeName = info["dtype"] as? String else { throw fail("missing dtype", name) }
      guard let dtype = DType(rawValue: dtypeName) else { throw fail("unsupported dtype \(dtypeName.prefix(16))", name) }
      guard let shapeAny = info["shape"] as? [Any],
        let shape = Self.integers(shapeAny), shape.allSatisfy({ $0 >= 0 })
      else { throw fail("shape is not a list of non-negative integers", name) }
      guard let offsetsAny = info["data_offsets"] as? [Any], let offsets = Self.integers(offsetsAny), offsets.count == 2
      else { throw fail("data_offsets is not [begin, end]", name) }
      let (begin, end) = (offsets[0], offsets[1])
      guard begin >= 0, begin <= end, end <= dataLength else {
        throw fail("data_offsets [\(begin), \(end)] lie outside the \(dataLength)-byte data section (file truncated?)", name)
      }
      let (numel, overflow) = shape.reduce((1, false)) { acc, d in
        let (p, o) = acc.0.multipliedReportingOverflow(by: d)
        return (p, acc.1 || o)
      }
      guard !overflow, numel <= Int.max / dtype.byteSize, numel * dtype.byteSize == end - begin else {
        throw fail("shape \(shape) of \(dtype.rawValue) needs \(overflow ? "an overflowing number of" : "\(numel * dtype.byteSize)") bytes but data_offsets span \(end - begin)", name)
      }
      entries.append(Entry(name: name, dtype: dtype, shape: shape, range: begin..<end))
    }
    entries.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
    for (a, b) in zip(entries, entries.dropFirst()) where b.range.overlaps(a.range) {
      throw fail("overlaps tensor '\(a.name)' (bytes \(a.range) and \(b.range))", b.name)
    }
    self.entries = entries
    self.metadata = meta
  }

  private static func integers(_ values: [Any]) -> [Int]? {
    var out: [Int] = []
    out.reserveCapacity(values.count)
    for v in values {
      // JSONSerialization yields NSNumber; accept only exactly integral values.
      guard let d = v as? Double, d == d.rounded(), abs(d) < 9.0e15 else { return nil }
      out.append(Int(d))
    }
    return out
  }
}

/// A safetensors file read into memory zood owns; tensors are views into that memory.
///
/// Read, not mapped: a mapping dies with its file (truncate a mapped file, or replace it
/// in place, and the next read of a page past the new end is SIGBUS, which kills the whole
/// daemon), while a copy survives whatever happens to the file. The cost is one read of
/// the file at load, and memory the kernel cannot share with the page cache. The copy is
/// anonymous `mmap` memory, page-aligned like a mapping, so offsets keep their alignment.
public final class SafetensorsFile: @unchecked Sendable {
  public let path: String
  public let tensors: [String: TensorEntry]
  /// Tensor names in file order (by data offset), for stable listings.
  public let names: [String]
  public let metadata: [String: String]
  /// Bytes of memory holding the file.
  public let byteCount: Int

  private let base: UnsafeMutableRawPointer

  /// Reads the file at `path`; `progress` gets the bytes read so far as the read goes
  /// (every 32 MB, and at the end).
  public init(path: String, progress: ((Int) -> Void)? = nil) throws {
    self.path = path
    let file = try RegularFile.open(path)
    defer { file.close() }
    let header = try SafetensorsHeader(file)
    let size = header.fileSize
    guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), memory != MAP_FAILED
    else {
      throw SafetensorsError(path: path, tensor: nil, reason: "cannot allocate \(size) bytes: \(String(cString: strerror(errno)))")
    }
    do {
      let chunk = 32 << 20
      for offset in stride(from: 0, to: size, by: chunk) {
        let count = min(chunk, size - offset)
        try file.read(into: memory + offset, count: count, at: offset)
        progress?(offset + count)
      }
    } catch {
      munmap(memory, size)
      throw error
    }
    mprotect(memory, size, PROT_READ)
    let data = UnsafeRawPointer(memory + header.dataStart)
    var entries: [String: TensorEntry] = [:]
    for e in header.entries {
      entries[e.name] = TensorEntry(
        name: e.name, dtype: e.dtype, shape: e.shape, data: data + e.range.lowerBound, byteCount: e.range.count)
    }
    self.base = memory
    self.byteCount = size
    self.tensors = entries
    self.names = header.entries.map(\.name)
    self.metadata = header.metadata
  }

  deinit { munmap(base, byteCount) }
}

extension TensorEntry {
  /// The tensor as float32 values, converting F16/BF16/F64 (a copy) when needed.
  /// Returns nil for integer dtypes.
  public func floats() -> [Float]? {
    let n = elementCount
    switch dtype {
    case .f32:
      return Array(UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: n))
    case .f64:
      return (0..<n).map { Float(data.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self)) }
    case .f16:
      return (0..<n).map { Float(Float16(bitPattern: data.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) }
    case .bf16:
      return (0..<n).map {
        Float(bitPattern: UInt32(data.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)) << 16)
      }
    default:
      return nil
    }
  }

  /// The tensor as Int64 values (I64 or I32), or nil for other dtypes.
  public func int64s() -> [Int64]? {
    let n = elementCount
    switch dtype {
    case .i64: return (0..<n).map { data.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
    case .i32: return (0..<n).map { Int64(data.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
    default: return nil
    }
  }
}
