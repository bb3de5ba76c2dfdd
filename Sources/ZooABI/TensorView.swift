import CZooPlugin
import ZooCore

extension zoo_tensor_view {
  /// A view of a safetensors tensor in memory (row-major, contiguous).
  public init(_ t: TensorEntry) {
    self.init()
    size = UInt32(MemoryLayout<zoo_tensor_view>.size)
    dtype = Int32(
      {
        switch t.dtype {
        case .f32: ZOO_DTYPE_F32
        case .f16: ZOO_DTYPE_F16
        case .bf16: ZOO_DTYPE_BF16
        case .i64: ZOO_DTYPE_I64
        case .i32: ZOO_DTYPE_I32
        case .f64: ZOO_DTYPE_F64
        case .i16: ZOO_DTYPE_I16
        case .i8: ZOO_DTYPE_I8
        case .u8: ZOO_DTYPE_U8
        case .bool: ZOO_DTYPE_BOOL
        }
      }().rawValue)
    rank = Int32(t.shape.count)
    withUnsafeMutableBytes(of: &shape) { raw in
      let dims = raw.bindMemory(to: Int64.self)
      for (i, d) in t.shape.prefix(Int(ZOO_MAX_RANK)).enumerated() { dims[i] = Int64(d) }
    }
    withUnsafeMutableBytes(of: &strides) { raw in
      let s = raw.bindMemory(to: Int64.self)
      var step: Int64 = 1
      for i in (0..<min(t.shape.count, Int(ZOO_MAX_RANK))).reversed() {
        s[i] = step
        step *= Int64(t.shape[i])
      }
    }
    data = t.data
  }
}
