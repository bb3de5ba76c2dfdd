import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// The manifest's weight names are the ones a load reads: each builder loads its
/// fixture, and every name read must be declared, every declared name asked for.
final class StateSpaceWeightNameTests: XCTestCase {
  func testDeclaredWeightNamesAreTheOnesLoadsRead() throws {
    for (fixtureName, declaration) in [("mamba-hf", MambaBuilder.declaration), ("mamba2-hf", Mamba2Builder.declaration)] {
      let fixture = try HFFixture.named(fixtureName)
      let weights = Weights(fixture.modelFile)
      _ = try declaration.modelType == "mamba"
        ? MambaBuilder.load(fixture.context(weights: weights)) : Mamba2Builder.load(fixture.context(weights: weights))
      assertWeightNamesDeclared(declaration.weights, loads: [weights], declaration.modelType)
    }
  }
}
