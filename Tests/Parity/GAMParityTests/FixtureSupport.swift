import Foundation
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import GAM

/// One official-code fixture folder (gam, gam-block): config.json with the official
/// argument names, weights.safetensors (the state_dict, mapped) and io.safetensors.
///
/// `Weights` only borrows the mapping, so fixtures are cached for the whole test run.
final class GAMFixture: @unchecked Sendable {
  let folder: URL
  let configJSON: Data
  let weightsFile: SafetensorsFile
  let io: TensorFile

  private static let cache = FixtureCache<GAMFixture>()

  static func named(_ name: String) throws -> GAMFixture {
    try cache.named(name) { try GAMFixture(name) }
  }

  private init(_ name: String) throws {
    folder = try FixtureLocation.folder(name)
    configJSON = try Data(contentsOf: folder.appendingPathComponent("config.json"))
    weightsFile = try SafetensorsFile(path: folder.appendingPathComponent("weights.safetensors").path)
    io = try TensorFile(folder.appendingPathComponent("io.safetensors"))
  }

  var config: GAMConfig { get throws { try context().config(GAMConfig.self) } }

  /// The fixture's config.json carries no model_type (it is the official constructor's
  /// arguments); the builder is chosen by "gam" as a model folder's config.json would.
  func context(weights: Weights? = nil, configJSON override: Data? = nil) -> ModelLoadContext {
    ModelLoadContext(
      modelType: "gam", configJSON: override ?? configJSON, folder: folder.path,
      weights: weights ?? Weights(weightsFile))
  }

  var tokens: [Int32] { try! io.tokens("input_ids") }

  func expected(_ name: String) throws -> [Float] { try io.floats(name) }

  /// The state_dict's tensors, by name, as float32 arrays with their shapes.
  func checkpointTensors() -> [(name: String, shape: [Int], values: [Float])] { TensorFile(weightsFile).allFloats() }
}
