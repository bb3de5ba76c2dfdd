import Foundation
import XCTest
import ZooCore

/// `HeldMemory.measure` counts the buffers made during its body that are still alive at
/// its end, on its own thread only.
final class HeldMemoryTests: XCTestCase {
  func testMeasuresWhatABodyKeepsOnItsThread() {
    final class Keeper: @unchecked Sendable { var kept: [AnyObject] = [] }
    let keeper = Keeper()
    let (_, bytes) = HeldMemory.measure {
      keeper.kept.append(OwnedFloats(count: 1000) { _ in })  // kept: 4000 bytes
      keeper.kept.append(OwnedBytes(count: 300))  // kept: 300
      _ = OwnedFloats(count: 5000) { _ in }  // freed before the end: not counted
      // Made and kept on another thread meanwhile: not this load's.
      let other = Thread { keeper.kept.append(OwnedBytes(count: 1 << 20)) }
      other.start()
      while !other.isFinished { usleep(1000) }
    }
    XCTAssertEqual(bytes, 4300)
    // Freeing what a measured body kept, later, is counted against whoever frees it.
    let (_, freed) = HeldMemory.measure { keeper.kept.removeAll() }
    XCTAssertEqual(freed, -4300 - (1 << 20))
  }
}
