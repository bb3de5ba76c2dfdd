import Foundation
import ZooCore
import ZooPluginKit

/// A checkpoint's weights in another format, for the weight-format parity tests.
public enum WeightFormats {
  /// `tensors` (a checkpoint read as float32) as a model would get them in `format`:
  /// F16 and BF16 as a checkpoint stored in that dtype (every tensor), Q8 as `file`
  /// quantised at load. F32 is `file` itself.
  public static func weights(
    of tensors: [(name: String, shape: [Int], values: [Float])], _ file: SafetensorsFile,
    as format: WeightMatrix.Format
  ) throws -> Weights {
    switch format {
    case .f32:
      return Weights(file)
    case .q8:
      var weights = Weights(file)
      weights.quantization = .q8
      return weights
    case .f16, .bf16:
      var writer = SafetensorsWriter()
      writer.dtype = format == .f16 ? .f16 : .bf16
      for t in tensors { try writer.add(t.name, shape: t.shape, values: t.values) }
      let path = NSTemporaryDirectory() + "zoo-\(format.rawValue)-\(UUID().uuidString).safetensors"
      try writer.write(to: path)
      defer { try? FileManager.default.removeItem(atPath: path) }
      return Weights(try SafetensorsFile(path: path))
    }
  }
}
