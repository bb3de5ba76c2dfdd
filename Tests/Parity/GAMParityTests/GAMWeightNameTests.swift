import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import GAM

/// The manifest's weight names are the ones a load of the official GAM_Model's
/// state_dict reads: every name read declared, every declared name asked for.
final class GAMWeightNameTests: XCTestCase {
  func testDeclaredWeightNamesAreTheOnesTheLoadReads() throws {
    let fixture = try GAMFixture.named("gam")
    let weights = Weights(fixture.weightsFile)
    _ = try GAMBuilder.load(fixture.context(weights: weights))
    assertWeightNamesDeclared(GAMBuilder.declaration.weights, loads: [weights], "gam")
  }
}
