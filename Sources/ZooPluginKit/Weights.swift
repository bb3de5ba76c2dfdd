import CZooPlugin
import Foundation
import ZooCore

/// A float32 weight: a read-only view into zood's copy of a safetensors file, or, for
/// F16/BF16/F64 checkpoints, a float32 copy this object owns.
public final class Weight: @unchecked Sendable {
  /// The tensor's name in the checkpoint.
  public let name: String
  /// Its dimensions, row-major.
  public let shape: [Int]
  /// Its first float.
  public let pointer: UnsafePointer<Float>
  private let owned: UnsafeMutablePointer<Float>?
  /// What keeps borrowed memory alive when it is not zood's (an in-process file).
  private let keeper: AnyObject?

  /// Elements in all.
  public var count: Int { shape.reduce(1, *) }
  /// All elements, valid while this object lives (a converted weight owns them: read
  /// `values` from a temporary instead).
  public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }
  /// A copy of all elements, made while this object is alive.
  public var values: [Float] { Array(buffer) }

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
    HeldMemory.add(max(values.count, 1) * MemoryLayout<Float>.size)
  }

  deinit {
    if let owned {
      HeldMemory.add(-max(count, 1) * MemoryLayout<Float>.size)
      owned.deallocate()
    }
  }
}

/// The tensors of a model folder, by name, as zood hands them over (zoo_weights).
/// Valid until the model is unloaded; models keep `Weight`s instead of copying.
public struct Weights: @unchecked Sendable {
  private let entries: [String: zoo_tensor_view]
  /// The in-process file the views point into, kept alive by every borrowed Weight;
  /// nil for zood's weights, which zood keeps until the model is unloaded.
  private let file: SafetensorsFile?
  /// The names a load asked for, shared by the copies of this value (a builder passes
  /// `Weights` around by value).
  private let lookups = WeightLookups()
  /// The format `matrix` quantises weight matrices to (`.q8`, as zoo.json's
  /// `"weights": "q8"` asks), or nil to keep them as the checkpoint stores them.
  public var quantization: WeightMatrix.Format?

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

  /// Every tensor name in the checkpoint.
  public var names: [String] { Array(entries.keys) }

  /// Whether the checkpoint has the named tensor. The name counts as asked for
  /// (`namesAskedFor`): a builder that looks for a weight knows its name.
  public func contains(_ name: String) -> Bool {
    lookups.ask(name)
    return entries[name] != nil
  }

  /// The names `tensor` has read since these weights were made: what a load used.
  public var namesRead: Set<String> { lookups.read }

  /// Every name a load asked about: those read, those `contains` looked for, and the
  /// optional ones its config left out (`optionalTensor` with `present: false`).
  public var namesAskedFor: Set<String> { lookups.asked }

  /// The named tensor when `present` (a config flag such as use_bias), else nil without
  /// looking; the name counts as asked for either way.
  public func optionalTensor(_ name: String, shape: [Int]? = nil, present: Bool) throws -> Weight? {
    lookups.ask(name)
    return present ? try tensor(name, shape: shape) : nil
  }

  /// An output head tied to `embedding` unless the checkpoint stores its own: `name`
  /// (checked against the embedding's shape) when it is present and `tied` is false, the
  /// embedding itself otherwise, as save_pretrained drops a tied copy. Builders whose
  /// config flag is only informational leave `tied` false, so a stored head always wins.
  /// `name` counts as asked for either way, as a head the config ties is one it knows.
  public func head(_ name: String = "lm_head.weight", tiedTo embedding: Weight, tied: Bool = false) throws -> Weight {
    lookups.ask(name)
    guard !tied, contains(name) else { return embedding }
    return try tensor(name, shape: embedding.shape)
  }

  /// `head(_:tiedTo:tied:)` for a head kept as a `WeightMatrix`: `name` as a matrix of
  /// the embedding's shape, or the embedding itself.
  public func head(_ name: String = "lm_head.weight", tiedTo embedding: WeightMatrix, tied: Bool = false) throws
    -> WeightMatrix
  {
    lookups.ask(name)
    guard !tied, contains(name) else { return embedding }
    return try matrix(name, shape: [embedding.rows, embedding.columns])
  }

  /// The named tensor as float32, checked against `shape` when given.
  public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
    let (view, shape) = try checkedView(name, shape: expected)
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

  /// The named matrix `[rows, columns]`, checked against `shape`, for products: F32, F16
  /// and BF16 kept as the checkpoint stores them (a view, no copy; the kernels widen them),
  /// F64 as a float32 copy; quantised to Q8 when `quantization` asks and its rows are whole
  /// blocks of 32 (otherwise kept as stored).
  public func matrix(_ name: String, shape expected: [Int]) throws -> WeightMatrix {
    precondition(expected.count == 2, "a weight matrix has two dimensions")
    let (view, _) = try checkedView(name, shape: expected)
    let owners: [AnyObject] = file.map { [$0] } ?? []
    let stored: WeightMatrix
    switch zoo_dtype(rawValue: UInt32(view.dtype)) {
    case ZOO_DTYPE_F32:
      stored = WeightMatrix(format: .f32, rows: expected[0], columns: expected[1], data: view.data, owners: owners)
    case ZOO_DTYPE_F16:
      stored = WeightMatrix(format: .f16, rows: expected[0], columns: expected[1], data: view.data, owners: owners)
    case ZOO_DTYPE_BF16:
      stored = WeightMatrix(format: .bf16, rows: expected[0], columns: expected[1], data: view.data, owners: owners)
    default:
      let widened = try tensor(name, shape: expected)
      stored = WeightMatrix(widened.pointer, rows: expected[0], columns: expected[1], owners: [widened])
    }
    guard quantization == .q8 else { return stored }
    return stored.quantizedQ8() ?? stored
  }

  /// The named tensor's view and shape, checked against `shape` when given; counts it as
  /// read (a step of the load's progress).
  private func checkedView(_ name: String, shape expected: [Int]?) throws -> (zoo_tensor_view, [Int]) {
    lookups.ask(name)
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
    let read = lookups.markRead(name)
    // zood's weights belong to a load it shows progress of: one step per tensor.
    if file == nil { PluginHost.progress(Double(read) / Double(max(entries.count, 1)), "building the model") }
    return (view, shape)
  }
}

/// The names one `Weights` was asked for and read, so a test can hold a builder's
/// declared weight names to what its load really reads. Loads are rare and short, so
/// one lock suffices.
private final class WeightLookups: @unchecked Sendable {
  private let lock = NSLock()
  private var askedNames: Set<String> = []
  private var readNames: Set<String> = []

  func ask(_ name: String) { lock.withLock { _ = askedNames.insert(name) } }
  /// Marks `name` read; the number of names read so far.
  func markRead(_ name: String) -> Int {
    lock.withLock {
      readNames.insert(name)
      return readNames.count
    }
  }
  var asked: Set<String> { lock.withLock { askedNames } }
  var read: Set<String> { lock.withLock { readNames } }
}

/// A weight name pattern as builders declare them in the manifest: literal text in
/// which each `{...}` placeholder (`{i}`, `{0,2,4,...}`, `{last}`) stands for an index, a
/// run of decimal digits, and `[...]` for an optional part (`[bert.]embeddings...`).
public struct WeightNamePattern: @unchecked Sendable, CustomStringConvertible {
  /// The pattern as declared.
  public let description: String
  /// The pattern as an anchored regular expression.
  private let expression: NSRegularExpression

  /// The pattern `text`, e.g. "backbone.layers.{i}.mixer.A_log".
  public init(_ text: String) {
    description = text
    var regex = "^"
    var rest = Substring(text)
    while let c = rest.first {
      if c == "{", let close = rest.firstIndex(of: "}") {
        regex += "[0-9]+"
        rest = rest[rest.index(after: close)...]
      } else if c == "[" {
        regex += "(?:"
        rest = rest.dropFirst()
      } else if c == "]" {
        regex += ")?"
        rest = rest.dropFirst()
      } else {
        regex += NSRegularExpression.escapedPattern(for: String(c))
        rest = rest.dropFirst()
      }
    }
    // Built from escaped literals and fixed groups only, so it always compiles.
    expression = try! NSRegularExpression(pattern: regex + "$")
  }

  /// Whether `name` is this pattern with an index in place of every placeholder and
  /// each optional part present or absent.
  public func matches(_ name: String) -> Bool {
    expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
  }
}
