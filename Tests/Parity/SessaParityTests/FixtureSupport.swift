import Foundation
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Sessa

/// The `sessa` fixture: one official SessaLayer's config.json (constructor arguments),
/// weights.safetensors (its state_dict) and io.safetensors (inputs and outputs), mapped
/// once per test run (loaded layers borrow the mapping).
final class SessaFixture: @unchecked Sendable {
  let config: SessaLayerConfig
  let weightsFile: SafetensorsFile
  let io: TensorFile

  private static let cache = FixtureCache<SessaFixture>()

  static func load() throws -> SessaFixture {
    try cache.named("sessa") { try SessaFixture() }
  }

  private init() throws {
    let folder = try FixtureLocation.folder("sessa")
    config = try JSONDecoder().decode(
      SessaLayerConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")))
    weightsFile = try SafetensorsFile(path: folder.appendingPathComponent("weights.safetensors").path)
    io = try TensorFile(folder.appendingPathComponent("io.safetensors"))
  }

  func layer() throws -> SessaLayer {
    try SessaLayer(prefix: "", config: config, weights: Weights(weightsFile))
  }

  /// An io.safetensors tensor as floats ([1, 32, 64] tensors flattened to [32 · 64]).
  func tensor(_ name: String) throws -> [Float] { try io.floats(name) }
}
