import Foundation

/// Writes float tensors (stored as F32, F16 or BF16) to a safetensors file that `SafetensorsFile` (and the
/// Hugging Face `safetensors` library) can read: an 8-byte little-endian header length,
/// a JSON header mapping each name to `{"dtype": "F32", "shape": [...],
/// "data_offsets": [begin, end]}`, padded with spaces to a multiple of 8 bytes, then the
/// raw little-endian data in the order the tensors were added.
///
/// Used by tests (checkpoints with a weight missing or misshapen) and by benchmarks (a
/// random checkpoint of a real model's geometry).
///
///     var writer = SafetensorsWriter()
///     try writer.add("linear.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
///     try writer.write(to: "/tmp/model.safetensors")
public struct SafetensorsWriter {
  /// One tensor waiting to be written.
  public struct Entry {
    public let name: String
    public let shape: [Int]
    public let values: [Float]
  }

  /// Tensors in the order they were added (their data is written in this order).
  public private(set) var entries: [Entry] = []
  /// Optional string metadata, written under the header's `__metadata__` key.
  public var metadata: [String: String] = [:]
  /// How every tensor is stored: F32 (default), F16 or BF16 (rounded to nearest even,
  /// as PyTorch's `.to(torch.bfloat16)`).
  public var dtype: DType = .f32 {
    willSet { precondition([.f32, .f16, .bf16].contains(newValue), "the writer stores F32, F16 or BF16") }
  }

  public init() {}

  /// Adds a float32 tensor. Throws if the name is taken or empty, or if `values.count`
  /// is not the product of `shape` (an empty shape is a scalar: one value).
  public mutating func add(_ name: String, shape: [Int], values: [Float]) throws {
    guard !name.isEmpty, name != "__metadata__" else {
      throw SafetensorsError(path: "<writer>", tensor: name, reason: "is not a valid tensor name")
    }
    guard !entries.contains(where: { $0.name == name }) else {
      throw SafetensorsError(path: "<writer>", tensor: name, reason: "was already added")
    }
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
      throw SafetensorsError(
        path: "<writer>", tensor: name, reason: "shape \(shape) does not hold \(values.count) values")
    }
    entries.append(Entry(name: name, shape: shape, values: values))
  }

  /// The header bytes: 8-byte length, then the padded JSON.
  public func headerBytes() -> [UInt8] {
    var fields: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(metadata[$0]!))" }
      fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for e in entries {
      let bytes = e.values.count * dtype.byteSize
      let shape = e.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(JSONText.quoted(e.name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
      offset += bytes
    }
    var json = Array("{\(fields.joined(separator: ","))}".utf8)
    // Pad so the data section starts 8-byte aligned, as the reference writer does.
    while (8 + json.count) % 8 != 0 { json.append(UInt8(ascii: " ")) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + json.count)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: json)
    return out
  }

  /// Writes the file (replacing any existing one), streaming tensor data so no second
  /// copy of the values is made.
  public func write(to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil) else {
      throw SafetensorsError(path: path, tensor: nil, reason: "cannot create the file")
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.write(contentsOf: headerBytes())
    for e in entries {
      // Stored little-endian; every platform Swift targets here is.
      switch dtype {
      case .f16: try write(e.values.map { Float16($0).bitPattern }, to: handle)
      case .bf16: try write(e.values.map(Self.bfloat16), to: handle)
      default: try write(e.values, to: handle)
      }
    }
  }

  private func write<T>(_ values: [T], to handle: FileHandle) throws {
    try values.withUnsafeBytes { raw in
      guard let base = raw.baseAddress, raw.count > 0 else { return }
      let view = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count, deallocator: .none)
      try handle.write(contentsOf: view)
    }
  }

  /// bfloat16 bits of `x`, rounded to nearest even (NaN kept a NaN).
  static func bfloat16(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7fc0 }
    let bits = x.bitPattern
    return UInt16((bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
  }
}
