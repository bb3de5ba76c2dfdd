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

/// A safetensors file mapped read-only with `mmap`; tensors are views into the map.
///
/// The header is validated before anything is exposed: its length fits the file, every
/// entry has a known dtype, offsets lie inside the data section, byte sizes match shape
/// and dtype, and no two tensors overlap. Format: https://github.com/huggingface/safetensors
public final class SafetensorsFile: @unchecked Sendable {
  public let path: String
  public let tensors: [String: TensorEntry]
  /// Tensor names in file order (by data offset), for stable listings.
  public let names: [String]
  public let metadata: [String: String]
  /// Bytes of the whole mapping.
  public let mappedBytes: Int

  private let base: UnsafeMutableRawPointer
  // Header sizes beyond this are refused rather than parsed: real headers are kilobytes.
  private static let maxHeaderBytes = 100 << 20

  public init(path: String) throws {
    self.path = path
    func fail(_ reason: String, _ tensor: String? = nil) -> SafetensorsError {
      SafetensorsError(path: path, tensor: tensor, reason: reason)
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw fail("cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw fail("cannot stat: \(String(cString: strerror(errno)))") }
    let size = Int(st.st_size)
    guard size >= 8 else { throw fail("file is \(size) bytes, too short for a safetensors header") }
    guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
      throw fail("mmap failed: \(String(cString: strerror(errno)))")
    }
    var ok = false
    defer { if !ok { munmap(map, size) } }

    let headerLength = Int(UInt64(littleEndian: map.loadUnaligned(as: UInt64.self)))
    guard headerLength > 0, headerLength <= Self.maxHeaderBytes, headerLength <= size - 8 else {
      throw fail("header length \(headerLength) does not fit in a file of \(size) bytes; not a safetensors file, or truncated")
    }
    let headerData = Data(bytes: map + 8, count: headerLength)
    guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
      throw fail("header is not a JSON object")
    }
    let dataStart = 8 + headerLength
    let dataLength = size - dataStart
    var entries: [String: TensorEntry] = [:]
    var meta: [String: String] = [:]
    var spans: [(begin: Int, end: Int, name: String)] = []
    for (name, value) in header {
      if name == "__metadata__" {
        if let m = value as? [String: Any] { for (k, v) in m { meta[k] = "\(v)" } }
        continue
      }
      guard let info = value as? [String: Any] else { throw fail("entry is not an object", name) }
      guard let dtypeName = info["dtype"] as? String else { throw fail("missing dtype", name) }
      guard let dtype = DType(rawValue: dtypeName) else { throw fail("unsupported dtype \(dtypeName)", name) }
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
      entries[name] = TensorEntry(
        name: name, dtype: dtype, shape: shape, data: UnsafeRawPointer(map + dataStart + begin), byteCount: end - begin)
      spans.append((begin, end, name))
    }
    spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    for (a, b) in zip(spans, spans.dropFirst()) where b.begin < a.end && a.begin < a.end && b.begin < b.end {
      throw fail("overlaps tensor '\(a.name)' (bytes \(a.begin)..<\(a.end) and \(b.begin)..<\(b.end))", b.name)
    }
    ok = true
    self.base = map
    self.mappedBytes = size
    self.tensors = entries
    self.names = spans.map(\.name)
    self.metadata = meta
  }

  deinit { munmap(base, mappedBytes) }

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
