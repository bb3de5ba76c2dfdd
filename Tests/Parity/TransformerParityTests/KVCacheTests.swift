import XCTest
import ZooPluginKit
import ZooTestSupport

@testable import ZooDaemon

/// The forward contract of zoo_forward_args (KV cache by position, masks, explicit
/// positions, overwrite, subsets of queries, truncate, copy, refusals), each checked
/// against independent full recomputations in fresh states, on both model types: the
/// gated-attention Qwen3 fixture (RoPE) and the tiny BERT (learned positions, MLM head).
final class KVCacheTests: XCTestCase {
  struct Subject {
    let name: String
    let model: TestModel

    var vocab: Int { model.info.vocabularySize }

    /// Deterministic pseudo-random token ids (an LCG), avoiding the special ids < 5.
    func tokens(_ n: Int, seed: UInt64) -> [Int32] {
      var s = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return (0..<n).map { _ in
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int32(5 + Int((s >> 33) % UInt64(vocab - 5)))
      }
    }
  }

  /// The two models, optionally cut to one layer (so every cached key and value depends
  /// only on its own token and position, and overwrites can be checked row by row).
  func subjects(layers: Int? = nil) throws -> [Subject] {
    let overrides: [String: Any] = layers.map { ["num_hidden_layers": $0] } ?? [:]
    return [
      Subject(name: "qwen3", model: try TestModel(fixture: "gated-attention-headwise", configOverrides: overrides)),
      Subject(name: "bert", model: try TestModel(fixture: "tiny-bert", configOverrides: overrides)),
    ]
  }

  func testNullPositionsEqualExplicitPositions() throws {
    for s in try subjects() {
      let a = s.tokens(7, seed: 1)
      let b = s.tokens(5, seed: 2)
      let implicitState = try s.model.handle.makeState()
      let implicitA = try s.model.run(a, implicitState).logits
      let implicitB = try s.model.run(b, implicitState).logits
      let explicitState = try s.model.handle.makeState()
      let explicitA = try s.model.run(a, explicitState, positions: (0..<7).map(Int64.init)).logits
      let explicitB = try s.model.run(b, explicitState, positions: (7..<12).map(Int64.init)).logits
      XCTAssertEqual(implicitA, explicitA, "\(s.name): NULL positions differ from 0..<n")
      XCTAssertEqual(implicitB, explicitB, "\(s.name): NULL positions differ from length..<length+n")
      XCTAssertEqual(explicitState.length, 12)
    }
  }

  func testBidirectionalMask() throws {
    // One layer: the last position sees every token under both masks, so its row is the
    // same; the first sees only itself under the causal mask. (With more layers the
    // earlier tokens' states already differ between the masks.)
    for s in try subjects(layers: 1) {
      let n = 9
      let ids = s.tokens(n, seed: 3)
      let v = s.vocab
      let causal = try s.model.fresh(ids).logits
      let bidirectional = try s.model.fresh(ids, mask: .bidirectional).logits
      assertClose(rows(bidirectional, width: v, n - 1..<n), rows(causal, width: v, n - 1..<n), .reordered, "\(s.name) 1-layer last row, bidirectional vs causal")
      assertDiffer(rows(bidirectional, width: v, 0..<1), rows(causal, width: v, 0..<1), "\(s.name) 1-layer first row, bidirectional vs causal")
    }
    // Permuting tokens together with their positions permutes the output rows. The
    // slots must exist first (no holes), so the cache is filled, then every slot is
    // overwritten in permuted order.
    for s in try subjects() {
      let n = 9
      let ids = s.tokens(n, seed: 3)
      let v = s.vocab
      let bidirectional = try s.model.fresh(ids, mask: .bidirectional).logits
      let order = [4, 0, 8, 2, 6, 1, 7, 3, 5]
      let state = try s.model.handle.makeState()
      _ = try s.model.run(s.tokens(n, seed: 99), state, mask: .bidirectional)
      let permuted = try s.model.run(
        order.map { ids[$0] }, state, positions: order.map(Int64.init), mask: .bidirectional).logits
      var unpermuted = [Float](repeating: .nan, count: n * v)
      for (row, p) in order.enumerated() {
        unpermuted.replaceSubrange(p * v..<(p + 1) * v, with: permuted[row * v..<(row + 1) * v])
      }
      assertClose(unpermuted, bidirectional, .reordered, "\(s.name) permuted tokens and positions")
      XCTAssertEqual(state.length, n)
    }
  }

  func testBlockCausalMask() throws {
    for s in try subjects() {
      let n = 10
      let ids = s.tokens(n, seed: 4)
      let bidirectional = try s.model.fresh(ids, mask: .bidirectional).logits
      let causal = try s.model.fresh(ids).logits
      assertClose(try s.model.fresh(ids, mask: .blockCausal, blockSize: n).logits, bidirectional, .reordered, "\(s.name) block n = bidirectional")
      assertClose(try s.model.fresh(ids, mask: .blockCausal, blockSize: 1).logits, causal, .reordered, "\(s.name) block 1 = causal")
      // Block 4 in one call equals the blocks fed one call at a time, each bidirectional
      // over the cache (how a block-diffusion decoder runs).
      let blocked = try s.model.fresh(ids, mask: .blockCausal, blockSize: 4).logits
      let state = try s.model.handle.makeState()
      var blockwise: [Float] = []
      for start in stride(from: 0, to: n, by: 4) {
        blockwise += try s.model.run(Array(ids[start..<min(n, start + 4)]), state, mask: .bidirectional).logits
      }
      assertClose(blockwise, blocked, .reordered, "\(s.name) block 4 in one call vs block by block")
      assertDiffer(blocked, bidirectional, "\(s.name) block 4 vs bidirectional")
      assertDiffer(blocked, causal, "\(s.name) block 4 vs causal")
    }
    // One layer: row i sees exactly the tokens up to its block's end, so it equals a
    // bidirectional run of that prefix.
    for s in try subjects(layers: 1) {
      let n = 10
      let v = s.vocab
      let ids = s.tokens(n, seed: 4)
      let blocked = try s.model.fresh(ids, mask: .blockCausal, blockSize: 4).logits
      for i in 0..<n {
        let end = min(n, (i / 4 + 1) * 4)
        let reference = try s.model.fresh(Array(ids[..<end]), mask: .bidirectional).logits
        assertClose(rows(blocked, width: v, i..<i + 1), rows(reference, width: v, i..<i + 1), .reordered, "\(s.name) 1-layer block 4 row \(i)")
      }
    }
  }

  /// Positions are not decoration: the same tokens at other positions give other outputs
  /// (RoPE for qwen3, the learned table for bert). A uniform shift of RoPE positions
  /// cannot be run through the ABI: positions may leave no hole, so every call's queries
  /// see slots from 0 on, and a shifted sequence always has a prefix.
  func testPositionsChangeOutputs() throws {
    for s in try subjects() {
      let n = 8
      let ids = s.tokens(n, seed: 5)
      let reference = try s.model.fresh(ids, mask: .bidirectional).logits
      let state = try s.model.handle.makeState()
      _ = try s.model.run(ids, state, mask: .bidirectional)
      // Same token in every slot, but each now placed at the mirrored position.
      let mirrored = try s.model.run(ids, state, positions: (0..<n).reversed().map(Int64.init), mask: .bidirectional).logits
      assertDiffer(mirrored, reference, "\(s.name) tokens at mirrored positions")
    }
  }

  func testTruncateThenContinueEqualsFreshRun() throws {
    for s in try subjects() {
      let a = s.tokens(6, seed: 6)
      let b = s.tokens(4, seed: 7)
      let c = s.tokens(5, seed: 8)
      let state = try s.model.handle.makeState()
      _ = try s.model.run(a + b, state)
      try state.truncate(to: a.count)
      XCTAssertEqual(state.length, a.count)
      let continued = try s.model.run(c, state).logits
      let reference = try s.model.fresh(a + c).logits
      assertClose(continued, rows(reference, width: s.vocab, a.count..<a.count + c.count), .reordered, "\(s.name) A+B, truncate |A|, C")
      assertDiffer(continued, rows(try s.model.fresh(a + b + c).logits, width: s.vocab, 10..<15), "\(s.name) truncate forgot B")
      assertPluginError(.outOfRange, containing: ["truncate"], "\(s.name) truncate beyond length") { try state.truncate(to: 99) }
    }
  }

  func testCopiedStatesAreIndependent() throws {
    for s in try subjects() {
      let a = s.tokens(5, seed: 9)
      let b = s.tokens(3, seed: 10)
      let c = s.tokens(4, seed: 11)
      let original = try s.model.handle.makeState()
      _ = try s.model.run(a, original)
      let branch = try original.copy()
      let afterB = try s.model.run(b, original).logits
      let afterC = try s.model.run(c, branch).logits
      XCTAssertEqual(original.length, 8)
      XCTAssertEqual(branch.length, 9)
      assertClose(afterB, rows(try s.model.fresh(a + b).logits, width: s.vocab, 5..<8), .reordered, "\(s.name) original branch")
      assertClose(afterC, rows(try s.model.fresh(a + c).logits, width: s.vocab, 5..<9), .reordered, "\(s.name) copied branch")
      // The copy holds the original's cache: it continues exactly as a state never copied.
      let uncopied = try s.model.handle.makeState()
      _ = try s.model.run(a, uncopied)
      assertIdentical(afterC, try s.model.run(c, uncopied).logits, "\(s.name) copied branch vs a state never copied")
    }
  }

  /// Causal: overwriting slot j < n − 1 gives row j of a fresh run of the modified prefix.
  func testOverwriteCausal() throws {
    for s in try subjects() {
      let ids = s.tokens(12, seed: 12)
      let j = 5
      let replacement: Int32 = ids[j] == 7 ? 8 : 7
      let state = try s.model.handle.makeState()
      _ = try s.model.run(ids, state)
      let overwritten = try s.model.run([replacement], state, positions: [Int64(j)]).logits
      XCTAssertEqual(state.length, 12)
      let reference = try s.model.fresh(Array(ids[..<j]) + [replacement]).logits
      assertClose(overwritten, rows(reference, width: s.vocab, j..<j + 1), .reordered, "\(s.name) causal overwrite of slot \(j)")
      assertDiffer(overwritten, rows(try s.model.fresh(ids).logits, width: s.vocab, j..<j + 1), "\(s.name) overwrite changed the row")
    }
  }

  /// With one layer, each slot's keys and values depend only on its token and position,
  /// so re-running a subset of positions against the cache is exact math (float32 sums in
  /// another order, hence `.reordered`): a bidirectional overwrite of some slots equals a
  /// fresh bidirectional run of the modified sequence at those rows, and a causal query
  /// after a causal overwrite sees the new slot.
  func testOverwriteSubsetOneLayer() throws {
    for s in try subjects(layers: 1) {
      let v = s.vocab
      var ids = s.tokens(11, seed: 13)
      let state = try s.model.handle.makeState()
      _ = try s.model.run(ids, state, mask: .bidirectional)
      let subset = [2, 5, 9]
      let fresh = s.tokens(3, seed: 14)
      let partial = try s.model.run(fresh, state, positions: subset.map(Int64.init), mask: .bidirectional).logits
      for (k, p) in subset.enumerated() { ids[p] = fresh[k] }
      let reference = try s.model.fresh(ids, mask: .bidirectional).logits
      for (k, p) in subset.enumerated() {
        assertClose(rows(partial, width: v, k..<k + 1), rows(reference, width: v, p..<p + 1), .reordered, "\(s.name) 1-layer bidirectional subset row \(p)")
      }

      let causalState = try s.model.handle.makeState()
      var causalIds = s.tokens(10, seed: 15)
      _ = try s.model.run(causalIds, causalState)
      causalIds[3] = causalIds[3] == 9 ? 10 : 9
      _ = try s.model.run([causalIds[3]], causalState, positions: [3], logits: false)
      let last = try s.model.run([causalIds[9]], causalState, positions: [9]).logits
      assertClose(last, rows(try s.model.fresh(causalIds).logits, width: v, 9..<10), .reordered, "\(s.name) 1-layer causal query after overwrite")
    }
  }

  /// A causal prefill longer than the 512-token chunk equals the same tokens fed in short
  /// calls (and crosses a chunk boundary mid-call).
  func testLongCausalPrefillRunsInChunks() throws {
    let s = Subject(
      name: "qwen3",
      model: try TestModel(fixture: "gated-attention-headwise", configOverrides: ["max_position_embeddings": 1024]))
    let ids = s.tokens(700, seed: 21)
    let whole = try s.model.run(ids, try s.model.handle.makeState(), rows: [0, 511, 512, 699]).logits
    let state = try s.model.handle.makeState()
    var pieces: [Float] = []
    for start in stride(from: 0, to: 700, by: 100) {
      pieces += try s.model.run(Array(ids[start..<start + 100]), state).logits
    }
    let picked = [0, 511, 512, 699].flatMap { rows(pieces, width: s.vocab, $0..<$0 + 1) }
    assertClose(whole, picked, .reordered, "qwen3 700-token prefill in one call vs 7 calls of 100")
  }

  func testLogitRowsAndHidden() throws {
    for s in try subjects() {
      let ids = s.tokens(8, seed: 16)
      let full = try s.model.run(ids, try s.model.handle.makeState(), hidden: true)
      let picked = try s.model.run(ids, try s.model.handle.makeState(), rows: [6, 1, 6])
      let v = s.vocab
      let expected = rows(full.logits, width: v, 6..<7) + rows(full.logits, width: v, 1..<2) + rows(full.logits, width: v, 6..<7)
      // Not bit for bit: the head's GEMM has 3 rows here and 8 there, and OpenBLAS rounds a
      // row differently by the call's row count (see `Tolerance.reordered`).
      assertClose(picked.logits, expected, .reordered, "\(s.name) logit rows 6, 1, 6")
      XCTAssertEqual(full.hidden.count, 8 * s.model.info.hiddenSize)
      XCTAssertFalse(full.hidden.contains { !$0.isFinite })
    }
  }

  /// Refusals name the problem and leave the state as it was.
  func testRefusalsLeaveTheStateUnchanged() throws {
    for s in try subjects() {
      let ids = s.tokens(5, seed: 17)
      let state = try s.model.handle.makeState()
      _ = try s.model.run(ids, state)
      let max = s.model.info.maxPositions
      assertPluginError(.invalidArgument, containing: ["hole at 5", "reaches 7"], "\(s.name) hole") {
        _ = try s.model.run([3], state, positions: [7])
      }
      // The call's own tokens count, in any order: 7 and 5 leave 6 empty.
      assertPluginError(.invalidArgument, containing: ["hole at 6"], "\(s.name) hole between own tokens") {
        _ = try s.model.run([3, 4], state, positions: [7, 5])
      }
      assertPluginError(.outOfRange, containing: ["position \(max)"], "\(s.name) beyond max positions") {
        _ = try s.model.run([3], state, positions: [Int64(max)])
      }
      assertPluginError(.outOfRange, containing: ["exceed"], "\(s.name) append beyond max positions") {
        _ = try s.model.run(s.tokens(max, seed: 18), state)
      }
      assertPluginError(.invalidArgument, containing: ["twice"], "\(s.name) duplicate positions") {
        _ = try s.model.run([3, 4], state, positions: [2, 2])
      }
      assertPluginError(.invalidArgument, containing: ["negative"], "\(s.name) negative position") {
        _ = try s.model.run([3], state, positions: [-1])
      }
      assertPluginError(.invalidArgument, containing: ["block_size"], "\(s.name) block size 0") {
        _ = try s.model.run([3], state, mask: .blockCausal, blockSize: 0)
      }
      assertPluginError(.invalidArgument, containing: ["token id \(s.vocab)"], "\(s.name) token outside the vocabulary") {
        _ = try s.model.run([Int32(s.vocab)], state)
      }
      XCTAssertEqual(state.length, 5, "\(s.name): a refused call changed the length")
      let next = s.tokens(3, seed: 19)
      let continued = try s.model.run(next, state).logits
      let untouched = try s.model.handle.makeState()
      _ = try s.model.run(ids, untouched)
      assertIdentical(continued, try s.model.run(next, untouched).logits, "\(s.name) after refusals vs a state that saw none")
    }
  }

  func testCancellationBetweenLayers() throws {
    for s in try subjects() {
      let request = RequestContext()
      request.cancel()
      assertPluginError(.cancelled, containing: [], "\(s.name) cancelled prefill") {
        _ = try s.model.run(s.tokens(6, seed: 20), try s.model.handle.makeState(), request: request)
      }
    }
  }

  /// ABI 1.3 key positions: with the keys 0..<k named, the first k tokens of a call over
  /// n come out exactly as a call over those k alone; every key named is the plain
  /// bidirectional call; tokens outside the named keys change nothing for the others,
  /// even when the keys are not a prefix.
  func testKeyPositionsRestrictAttention() throws {
    let model = try TestModel(fixture: "gated-attention-headwise")
    let subject = Subject(name: "qwen3", model: model)
    let v = subject.vocab
    let n = 12
    let ids = subject.tokens(n, seed: 31)
    let all = Array(0..<Int64(n))
    let plain = try model.fresh(ids, mask: .bidirectional).logits
    let named = try model.run(ids, try model.handle.makeState(), mask: .bidirectional, keys: all).logits
    assertClose(named, plain, .reordered, "every key named = bidirectional")

    let k = 7
    let prefix = try model.run(ids, try model.handle.makeState(), mask: .bidirectional, keys: Array(all[..<k])).logits
    let alone = try model.fresh(Array(ids[..<k]), mask: .bidirectional).logits
    assertClose(rows(prefix, width: v, 0..<k), alone, .reordered, "keys 0..<\(k) = the first \(k) tokens alone")

    let window: [Int64] = [0, 1, 2, 5, 6, 9]
    var other = ids
    for p in 0..<n where !window.contains(Int64(p)) { other[p] = ids[(p + 3) % n] }
    let a = try model.run(ids, try model.handle.makeState(), mask: .bidirectional, keys: window, rows: window).logits
    let b = try model.run(other, try model.handle.makeState(), mask: .bidirectional, keys: window, rows: window).logits
    assertClose(a, b, .reordered, "tokens outside the named keys do not matter")
    XCTAssertNotEqual(a, try model.run(ids, try model.handle.makeState(), mask: .bidirectional, rows: window).logits)
  }

  /// Key positions are refused on other masks, out of order or beyond the sequence, and
  /// by models that do not take them (BERT), leaving the state unchanged.
  func testKeyPositionsRefusals() throws {
    let model = try TestModel(fixture: "gated-attention-headwise")
    let state = try model.handle.makeState()
    for (mask, keys, phrase) in [
      (MaskKind.causal, [Int64(0)], "bidirectional calls only"), (.bidirectional, [1, 0], "strictly ascending"),
      (.bidirectional, [0, 3], "outside the sequence"),
    ] {
      XCTAssertThrowsError(try model.run([5, 6], state, mask: mask, keys: keys)) { error in
        XCTAssertTrue("\(error)".contains(phrase), "\(error)")
      }
      XCTAssertEqual(state.length, 0)
    }
    let bert = try TestModel(fixture: "tiny-bert")
    XCTAssertFalse(bert.info.acceptsKeyPositions)
    XCTAssertThrowsError(try bert.run([5, 6], try bert.handle.makeState(), mask: .bidirectional, keys: [0])) { error in
      XCTAssertTrue("\(error)".contains("does not take key positions"), "\(error)")
    }
  }
}
