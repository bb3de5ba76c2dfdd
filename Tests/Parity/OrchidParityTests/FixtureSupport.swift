import Foundation
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Orchid

/// The `orchid` fixture: one official OrchidOperator's state_dict, its constructor
/// arguments (config.json) and io.safetensors. Mapped once per test run, since loaded
/// operators borrow the mapping.
final class OrchidFixture: @unchecked Sendable {
  let configJSON: Data
  let weightsFile: SafetensorsFile
  let io: TensorFile

  private static let cache = FixtureCache<OrchidFixture>()

  static func load() throws -> OrchidFixture {
    try cache.named("orchid") { try OrchidFixture() }
  }

  private init() throws {
    let folder = try FixtureLocation.folder("orchid")
    configJSON = try Data(contentsOf: folder.appendingPathComponent("config.json"))
    weightsFile = try SafetensorsFile(path: folder.appendingPathComponent("weights.safetensors").path)
    io = try TensorFile(folder.appendingPathComponent("io.safetensors"))
  }

  /// The fixture's constructor arguments, read as zoo reads an operator config.
  func config(causal: Bool = false) throws -> OrchidOperatorConfig {
    var config = try JSONDecoder().decode(OrchidOperatorConfig.self, from: configJSON)
    config.causal = causal
    return config
  }

  func makeOperator(causal: Bool = false) throws -> OrchidOperator {
    try OrchidOperator(Weights(weightsFile), prefix: "", config: config(causal: causal))
  }

  func tensor(_ name: String) throws -> [Float] { try io.floats(name) }

  /// The operator's weights as float arrays, by official name.
  func weight(_ name: String) -> [Float] { weightsFile.tensors[name]!.floats()! }
  var weightNames: [String] { weightsFile.names }
}

extension OrchidOperator {
  /// The bidirectional operator on Swift arrays.
  func run(_ u: [Float], length: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: length * config.dModel)
    forward(u, length: length, into: &out)
    return out
  }

  /// The causal variant on Swift arrays, continuing `state`.
  func runCausal(_ u: [Float], rows: Int, position: Int, state: inout [Float], symmetric: Bool = false) -> [Float] {
    var out = [Float](repeating: .nan, count: rows * config.dModel)
    forwardCausal(u, rows: rows, position: position, state: &state, scratch: nil, into: &out, symmetricConditioning: symmetric)
    return out
  }
}
