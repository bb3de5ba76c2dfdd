import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Sessa

/// The manifest's weight names are the ones loads read: random checkpoints under the
/// README's names, with and without MLP blocks, GQA, a separate head and RoPE buffers;
/// every name read declared, every declared name asked for by some load.
final class SessaWeightNameTests: XCTestCase {
  func testDeclaredWeightNamesAreTheOnesLoadsRead() throws {
    var checkpoints: [TemporaryCheckpoint] = []
    var loads: [Weights] = []
    var gqa = SessaConfig(vocabSize: 61, hiddenSize: 32, numHiddenLayers: 2)
    gqa.numAttentionHeads = 4
    gqa.numKeyValueHeads = 2
    gqa.intermediateSize = 48
    var tied = RandomSessaModel(config: SessaConfig(vocabSize: 61, hiddenSize: 24, numHiddenLayers: 2))
    tied.separateHead = false
    tied.ropeBuffers = false
    for model in [RandomSessaModel(config: gqa), tied] {
      let checkpoint = try TemporaryCheckpoint(model.tensors())
      let weights = checkpoint.weights
      _ = try SessaBuilder.load(model.context(weights))
      checkpoints.append(checkpoint)
      loads.append(weights)
    }
    assertWeightNamesDeclared(SessaBuilder.declaration.weights, loads: loads, "sessa")
  }
}
