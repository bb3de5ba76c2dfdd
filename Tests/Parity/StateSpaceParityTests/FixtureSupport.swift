import Foundation
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// One Hugging Face fixture folder: config.json, model.safetensors (mapped), and the
/// expected outputs in io.safetensors.
///
/// `Weights` only borrows the mapping, so a loaded model is valid only while its file is
/// alive: fixtures are therefore cached for the whole test run.
final class HFFixture: @unchecked Sendable {
  let folder: URL
  let configJSON: Data
  let modelFile: SafetensorsFile
  let io: TensorFile

  private static let cache = FixtureCache<HFFixture>()

  /// The fixture folder `name`, mapped once per test run.
  static func named(_ name: String) throws -> HFFixture {
    try cache.named(name) { try HFFixture(name) }
  }

  private init(_ name: String) throws {
    folder = try FixtureLocation.folder(name)
    configJSON = try Data(contentsOf: folder.appendingPathComponent("config.json"))
    modelFile = try SafetensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
    io = try TensorFile(folder.appendingPathComponent("io.safetensors"))
  }

  var modelType: String {
    let object = try? JSONSerialization.jsonObject(with: configJSON) as? [String: Any]
    return object?["model_type"] as? String ?? ""
  }

  func context(weights: Weights? = nil, configJSON override: Data? = nil) -> ModelLoadContext {
    ModelLoadContext(
      modelType: modelType, configJSON: override ?? configJSON, folder: folder.path,
      weights: weights ?? Weights(modelFile))
  }

  var tokens: [Int32] { try! io.tokens("input_ids") }

  func expected(_ name: String) throws -> [Float] { try io.floats(name) }

  /// The checkpoint's tensors, by name, as float32 arrays with their shapes.
  func checkpointTensors() -> [(name: String, shape: [Int], values: [Float])] { TensorFile(modelFile).allFloats() }
}
