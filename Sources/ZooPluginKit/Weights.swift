import CZooPlugin
import ZooCore

/// A float32 weight: a read-only view into zood's copy of a safetensors file, or, for
/// F16/BF16/F64 checkpoints, a float32 copy this object owns.
public final class Weight: @unchecked Sendable {
  public let name: String
  public let shape: [Int]
  public let pointer: UnsafePointer<Float>
  private let owned: UnsafeMutablePointer<Float>?
  /// What keeps borrowed memory alive when it is not zood's (an in-process file).
  private let keeper: AnyObject?

  public var count: Int { shape.reduce(1, *) }
  public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }

  init(name: String, shape: [Int], borrowing pointer: UnsafePointer<Float>, keeper: AnyObject?) {
    self.name = name
    self.shape = shape
    self.pointer = pointer
    self.owned = nil
    self.keeper = keeper
  }

  init(name: String, shape: [Int], copying values: [Float]) {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
    p.initialize(from: values, count: values.count)
    self.name = name
    self.shape = shape
    self.owned = p
    self.pointer = UnsafePointer(p)
    self.keeper = nil
  }

  deinit { owned?.deallocate() }
}

/// The tensors of a model folder, by name, as zood hands them over (zoo_weights).
/// Valid until the model is unloaded; models keep `Weight`s instead of copying.
public struct Weights: @unchecked Sendable {
  private let entries: [String: zoo_tensor_view]
  /// The in-process file the views point into, kept alive by every borrowed Weight;
  /// nil for zood's weights, which zood keeps until the model is unloaded.
  private let file: SafetensorsFile?

  init(_ weights: UnsafePointer<zoo_weights>) {
    var entries: [String: zoo_tensor_view] = [:]
    let w = weights.pointee
    for i in 0..<Int(w.count) {
      entries[String(cString: w.names[i]!)] = w.tensors[i]
    }
    self.entries = entries
    self.file = nil
  }

  /// Weights from a safetensors file opened in-process (tests, benchmarks); the
  /// tensors keep the file's memory alive for as long as they live.
  public init(_ file: SafetensorsFile) {
    var entries: [String: zoo_tensor_view] = [:]
    for (name, t) in file.tensors { entries[name] = zoo_tensor_view(t) }
    self.entries = entries
    self.file = file
  }

  public var names: [String] { Array(entries.keys) }
  public func contains(_ name: String) -> Bool { entries[name] != nil }

  /// The named tensor as float32, checked against `shape` when given.
  public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
    guard let view = entries[name] else {
      throw PluginError.notFound("weight '\(name)' is missing from the model's safetensors files")
    }
    let shape = withUnsafeBytes(of: view.shape) { raw in
      Array(raw.bindMemory(to: Int64.self).prefix(Int(view.rank))).map(Int.init)
    }
    if let expected, expected != shape {
      throw PluginError.invalidArgument(
        "weight '\(name)' has shape \(shape) but config.json implies \(expected); the checkpoint does not match its config")
    }
    let n = shape.reduce(1, *)
    switch zoo_dtype(rawValue: UInt32(view.dtype)) {
    case ZOO_DTYPE_F32:
      return Weight(name: name, shape: shape, borrowing: view.data.assumingMemoryBound(to: Float.self), keeper: file)
    case ZOO_DTYPE_F16:
      let src = view.data.assumingMemoryBound(to: UInt16.self)
      return Weight(name: name, shape: shape, copying: (0..<n).map { Float(Float16(bitPattern: src[$0])) })
    case ZOO_DTYPE_BF16:
      let src = view.data.assumingMemoryBound(to: UInt16.self)
      return Weight(name: name, shape: shape, copying: (0..<n).map { Float(bitPattern: UInt32(src[$0]) << 16) })
    case ZOO_DTYPE_F64:
      let src = view.data.assumingMemoryBound(to: Double.self)
      return Weight(name: name, shape: shape, copying: (0..<n).map { Float(src[$0]) })
    default:
      throw PluginError.invalidArgument(
        "weight '\(name)' has an integer or boolean dtype (\(view.dtype)); a float tensor is needed")
    }
  }
}
