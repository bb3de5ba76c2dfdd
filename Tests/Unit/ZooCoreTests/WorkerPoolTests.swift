import CZooKernels
import Foundation
import XCTest

/// The worker pool behind the decode kernels (`zoo_parallel_for`): every chunk runs
/// exactly once, on more than one thread, also when callers on several threads share the
/// pool and when jobs follow each other faster than workers go to sleep.
final class WorkerPoolTests: XCTestCase {
  /// Runs `chunks` chunks on up to `threads` threads; returns how often each chunk ran and
  /// on how many distinct threads.
  private static func run(chunks: Int, threads: Int, work: Int = 2000) -> (counts: [Int], threads: Int) {
    final class Record: @unchecked Sendable {
      let lock = NSLock()
      var counts: [Int]
      var threads = Set<UInt>()
      let work: Int
      init(chunks: Int, work: Int) {
        counts = Array(repeating: 0, count: chunks)
        self.work = work
      }
    }
    let record = Record(chunks: chunks, work: work)
    withExtendedLifetime(record) {
      zoo_parallel_for(Int64(chunks), Int32(threads), { context, chunk in
        let record = Unmanaged<Record>.fromOpaque(context!).takeUnretainedValue()
        var spin = 0.0
        for i in 0..<record.work { spin += Double(i).squareRoot() }  // enough work for a second thread to join
        record.lock.lock()
        record.counts[Int(chunk)] += spin >= 0 ? 1 : 0
        record.threads.insert(UInt(pthread_self()))
        record.lock.unlock()
      }, Unmanaged.passUnretained(record).toOpaque())
    }
    return (record.counts, record.threads.count)
  }

  func testEveryChunkRunsOnceAndWorkersJoin() {
    var sawSecondThread = false
    for _ in 0..<200 {
      let (counts, threads) = Self.run(chunks: 64, threads: 2)
      XCTAssertEqual(counts, Array(repeating: 1, count: 64))
      sawSecondThread = sawSecondThread || threads > 1
    }
    XCTAssertTrue(sawSecondThread, "no pool worker ever took a chunk")
    // One thread, one chunk and no chunks run on the caller.
    XCTAssertEqual(Self.run(chunks: 5, threads: 1).counts, Array(repeating: 1, count: 5))
    XCTAssertEqual(Self.run(chunks: 1, threads: 4).counts, [1])
    XCTAssertEqual(Self.run(chunks: 0, threads: 4).counts, [])
  }

  func testCallersOnSeveralThreadsEachGetEveryChunk() {
    let wrong = NSLock()
    nonisolated(unsafe) var wrongJobs = 0
    DispatchQueue.concurrentPerform(iterations: 8) { caller in
      for round in 0..<50 {
        let chunks = 1 + (caller * 7 + round) % 40
        if Self.run(chunks: chunks, threads: 2, work: 200).counts != Array(repeating: 1, count: chunks) {
          wrong.withLock { wrongJobs += 1 }
        }
      }
    }
    XCTAssertEqual(wrongJobs, 0, "jobs whose chunks did not each run once")
  }
}
