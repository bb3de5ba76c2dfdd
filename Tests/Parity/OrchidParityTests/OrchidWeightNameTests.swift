import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import Orchid

/// The manifest's weight names are the ones a load reads: the language model of
/// `OrchidLanguageModelTests` (the fixture's official operator weights in every block)
/// with a separate head; every name read declared, every declared name asked for.
final class OrchidWeightNameTests: XCTestCase {
  func testDeclaredWeightNamesAreTheOnesTheLoadReads() throws {
    let checkpoint = try TemporaryCheckpoint(OrchidLanguageModelTests.tensors(head: true))
    let weights = checkpoint.weights
    _ = try OrchidLMBuilder.load(
      ModelLoadContext(
        modelType: "orchid", configJSON: Data(OrchidLanguageModelTests.configJSON.utf8), folder: "/nonexistent",
        weights: weights))
    assertWeightNamesDeclared(OrchidLMBuilder.declaration.weights, loads: [weights], "orchid")
  }
}
