import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Transformer

/// The manifest's weight names are the ones loads read, in process (the other tests here
/// go through the plugin's .so): each builder loads its fixtures, and every name read
/// must be declared, every declared name asked for by some load.
final class TransformerWeightNameTests: XCTestCase {
  /// Loads fixture folder `name` (config.json and `file`) with `builder`; the returned
  /// file keeps the weights mapped.
  private func load(
    _ builder: any ModelBuilder.Type, _ name: String, file: String
  ) throws -> (Weights, SafetensorsFile) {
    let folder = try FixtureLocation.folder(name)
    let mapped = try SafetensorsFile(path: folder.appendingPathComponent(file).path)
    let weights = Weights(mapped)
    _ = try builder.load(
      ModelLoadContext(
        modelType: builder.declaration.modelType,
        configJSON: try Data(contentsOf: folder.appendingPathComponent("config.json")), folder: folder.path,
        weights: weights))
    return (weights, mapped)
  }

  func testQwen3DeclaredWeightNamesAreTheOnesLoadsRead() throws {
    let loads = try [
      load(Qwen3Builder.self, "tiny-qwen3", file: "model.safetensors"),
      load(Qwen3Builder.self, "gated-attention-headwise", file: "weights.safetensors"),
      load(Qwen3Builder.self, "gated-attention-elementwise", file: "weights.safetensors"),
    ]
    assertWeightNamesDeclared(Qwen3Builder.declaration.weights, loads: loads.map(\.0), "qwen3")
  }

  func testBertDeclaredWeightNamesAreTheOnesTheLoadReads() throws {
    let (weights, _) = try load(BertBuilder.self, "tiny-bert", file: "model.safetensors")
    assertWeightNamesDeclared(BertBuilder.declaration.weights, loads: [weights], "bert")
  }

  func testILMDeclaredWeightNamesAreTheOnesTheLoadReads() throws {
    let (weights, _) = try load(ILMBuilder.self, "ilm-tiny", file: "model.safetensors")
    assertWeightNamesDeclared(ILMBuilder.declaration.weights, loads: [weights], "ilm")
  }
}
