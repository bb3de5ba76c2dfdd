/// The sizes of a recurrent language model's per-sequence state. Equal layouts mean a
/// state was made by a model of the same shape; each model adds what its layers need to
/// find their part of the storage.
public protocol RecurrentStateLayout: Equatable, Sendable {
  /// Floats of the whole state, in one allocation.
  var floatCount: Int { get }
  /// Forgets everything after the first `length` tokens of `state`, or refuses. The
  /// default refuses: a recurrent state summarises its whole prefix.
  func truncate(_ state: RecurrentModelState<Self>, to length: Int) throws
}

extension RecurrentStateLayout {
  /// Refuses, as `ModelState`'s default does: the state cannot be rewound.
  public func truncate(_ state: RecurrentModelState<Self>, to length: Int) throws {
    throw PluginError.failedPrecondition(
      "this model's state is recurrent and cannot be truncated; re-run the prefix instead")
  }
}

/// A sequence's state in a `RecurrentLanguageModel`: `layout.floatCount` floats whose
/// size does not depend on length, zero before the first token, plus a scratch buffer
/// sized for a one-token step so decoding does not allocate.
public final class RecurrentModelState<Layout: RecurrentStateLayout>: ModelState {
  /// The sizes this state was made with.
  public let layout: Layout
  /// Every float of the state; what a prefill backs up and a copy duplicates.
  public let storage: UnsafeMutablePointer<Float>
  /// Scratch for one-token steps (`stepScratchCount` floats).
  public let stepScratch: UnsafeMutablePointer<Float>
  /// Floats of `stepScratch`.
  public let stepScratchCount: Int
  /// Tokens consumed so far, so the next position.
  public var length = 0

  /// A fresh (zero) state of `layout`, with `stepScratchCount` floats of step scratch.
  public init(layout: Layout, stepScratchCount: Int) {
    self.layout = layout
    storage = .allocate(capacity: max(layout.floatCount, 1))
    storage.initialize(repeating: 0, count: max(layout.floatCount, 1))
    self.stepScratchCount = stepScratchCount
    stepScratch = .allocate(capacity: max(stepScratchCount, 1))
    stepScratch.initialize(repeating: 0, count: max(stepScratchCount, 1))
  }

  deinit {
    storage.deallocate()
    stepScratch.deallocate()
  }

  /// Floats of the state.
  public var floatCount: Int { layout.floatCount }

  /// A deep copy (beam search, speculative decoding).
  public func copy() throws -> any ModelState {
    let other = RecurrentModelState(layout: layout, stepScratchCount: stepScratchCount)
    other.storage.update(from: storage, count: floatCount)
    other.length = length
    return other
  }

  /// What the layout allows (by default nothing: see `RecurrentStateLayout.truncate`).
  public func truncate(to length: Int) throws {
    try layout.truncate(self, to: length)
  }
}

/// A causal language model over a fixed-size recurrent state (Mamba, GAM, causal
/// Orchid). The model computes a chunk of consecutive tokens (`runChunk`); the shared
/// `forward` does the rest the same way for all of them:
///
/// - refuses, before touching the state, a state made by another model, any mask but
///   causal, positions that do not continue the sequence (a recurrent state cannot be
///   rewound or skip ahead), what `checkLength` refuses, token ids outside the
///   vocabulary and logit rows outside the call;
/// - runs a one-token call (a decode step) in the state's preallocated scratch, without
///   polling for cancellation and without allocating;
/// - runs a longer call (a prefill) `prefillChunkRows` tokens at a time, so matrix
///   products are GEMMs while scratch stays bounded, polling for cancellation, and puts
///   the state back as it was when a chunk fails or is cancelled, so no layer is left
///   advanced while another is not.
public protocol RecurrentLanguageModel: Model {
  associatedtype Layout: RecurrentStateLayout
  /// The model_type, for error messages.
  var modelType: String { get }
  /// The sizes of this model's states.
  var stateLayout: Layout { get }
  /// The longest chunk of a prefill.
  var prefillChunkRows: Int { get }
  /// Scratch floats `runChunk` needs for `rows` tokens.
  func scratchCount(rows: Int) -> Int
  /// Why a non-causal `mask` is refused, naming the model ("mamba is a causal recurrent
  /// model and supports only the causal mask, not …").
  func maskRefusal(_ mask: MaskKind) -> String
  /// What the state holds after `length` tokens, to say why positions must continue the
  /// sequence ("keeps a recurrent state of 12 tokens").
  func stateSummary(length: Int) -> String
  /// Refuses a call of `count` tokens after `length` that would pass the model's last
  /// position; the default accepts any length.
  func checkLength(_ length: Int, adding count: Int) throws
  /// Runs tokens `start..<start + rows` of `input` through every layer, advancing
  /// `state`'s storage (not its length), and writes their hidden states and requested
  /// logits into `output`. `scratch` holds `scratchCount(rows:)` floats for at least
  /// `rows`. Throws `PluginError.cancelled()` between layers when `pollCancel` and the
  /// request is cancelled.
  func runChunk(
    _ input: ForwardInput, start: Int, rows: Int, state: RecurrentModelState<Layout>,
    scratch: UnsafeMutablePointer<Float>, output: ForwardOutput, pollCancel: Bool) throws
}

extension RecurrentLanguageModel {
  /// A state with no tokens, with scratch for one-token steps.
  public func makeState() throws -> any ModelState {
    RecurrentModelState(layout: stateLayout, stepScratchCount: scratchCount(rows: 1))
  }

  /// Accepts any length.
  public func checkLength(_ length: Int, adding count: Int) throws {}

  /// The shared refusal: "<model_type> is a causal recurrent model …".
  public func maskRefusal(_ mask: MaskKind) -> String {
    "\(modelType) is a causal recurrent model and supports only the causal mask, not \(mask)"
  }

  /// Checks the call (see the protocol), then runs it as a step or a chunked prefill.
  /// Inlinable, so each model's copy is specialised and a step allocates nothing.
  @inlinable
  public func forward(_ input: ForwardInput, state anyState: any ModelState, output: ForwardOutput) throws {
    guard let state = anyState as? RecurrentModelState<Layout>, state.layout == stateLayout else {
      throw PluginError.invalidArgument("the state passed to \(modelType) forward was not made by this model")
    }
    try checkRecurrentInput(input, length: state.length)
    let n = input.tokens.count
    guard n > 0 else { return }
    if n == 1 {
      // Decode step: preallocated scratch, GEMV everywhere, nothing to cancel.
      try runChunk(
        input, start: 0, rows: 1, state: state, scratch: state.stepScratch, output: output, pollCancel: false)
    } else {
      try prefill(input, state: state, output: output)
    }
    state.length += n
  }

  /// Runs a call of several tokens chunk by chunk; on any error the state's storage is
  /// put back as it was before the call.
  @usableFromInline
  func prefill(_ input: ForwardInput, state: RecurrentModelState<Layout>, output: ForwardOutput) throws {
    let n = input.tokens.count
    let floats = state.floatCount
    let backup = UnsafeMutablePointer<Float>.allocate(capacity: max(floats, 1))
    backup.initialize(from: state.storage, count: floats)
    let chunk = min(n, prefillChunkRows)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchCount(rows: chunk), 1))
    defer {
      backup.deallocate()
      scratch.deallocate()
    }
    do {
      for start in stride(from: 0, to: n, by: chunk) {
        try runChunk(
          input, start: start, rows: min(chunk, n - start), state: state, scratch: scratch, output: output,
          pollCancel: true)
      }
    } catch {
      state.storage.update(from: backup, count: floats)
      throw error
    }
  }

  /// Refuses what a causal model with a recurrent state after `length` tokens cannot
  /// serve (see the protocol).
  @usableFromInline
  func checkRecurrentInput(_ input: ForwardInput, length: Int) throws {
    guard input.mask == .causal else { throw PluginError.failedPrecondition(maskRefusal(input.mask)) }
    let n = input.tokens.count
    if let positions = input.positions {
      guard positions.count == n else {
        throw PluginError.invalidArgument("\(positions.count) positions were given for \(n) tokens")
      }
      // Index loops: an unspecialised enumerated() allocates in debug builds.
      for i in 0..<n where positions[i] != Int64(length + i) {
        throw PluginError.invalidArgument(
          "position \(positions[i]) at row \(i) does not continue the sequence: \(modelType) \(stateSummary(length: length)), so the positions must be exactly \(length)..<\(length + n)"
        )
      }
    }
    try checkLength(length, adding: n)
    let vocabulary = info.vocabularySize
    for i in 0..<n where input.tokens[i] < 0 || Int(input.tokens[i]) >= vocabulary {
      throw PluginError.invalidArgument(
        "token id \(input.tokens[i]) at row \(i) is outside the vocabulary of size \(vocabulary)")
    }
    if let rows = input.logitRows {
      for row in rows where row < 0 || row >= Int64(n) {
        throw PluginError.invalidArgument("logit row \(row) is outside the \(n) tokens of this call")
      }
    }
  }
}

/// A `RecurrentLanguageModel` that also advances several sequences by one token each in
/// one pass (a batched decode step): the model computes the rows (`runSteps`), the
/// shared `step` checks the batch first, as `forward` checks a call.
public protocol BatchedRecurrentLanguageModel: RecurrentLanguageModel, BatchedStepModel {
  /// Runs `tokens[i]` through every layer for `states[i]`, advancing each state's
  /// storage (not its length), and writes row i's logits. `scratch` holds
  /// `scratchCount(rows: tokens.count)` floats.
  func runSteps(
    _ tokens: UnsafeBufferPointer<Int32>, states: [RecurrentModelState<Layout>], scratch: UnsafeMutablePointer<Float>,
    logits: UnsafeMutablePointer<Float>) throws
}

extension BatchedRecurrentLanguageModel {
  /// Refuses, before touching any state, a state of another model, a token outside the
  /// vocabulary and a sequence at its last position; then runs the batch.
  public func step(
    _ tokens: UnsafeBufferPointer<Int32>, states anyStates: [any ModelState], logits: UnsafeMutablePointer<Float>
  ) throws {
    let states = try anyStates.map { anyState in
      guard let state = anyState as? RecurrentModelState<Layout>, state.layout == stateLayout else {
        throw PluginError.invalidArgument("a state passed to \(modelType) forward_batch was not made by this model")
      }
      return state
    }
    let vocabulary = info.vocabularySize
    for (i, state) in states.enumerated() {
      try checkLength(state.length, adding: 1)
      guard tokens[i] >= 0, Int(tokens[i]) < vocabulary else {
        throw PluginError.invalidArgument(
          "token id \(tokens[i]) of sequence \(i) is outside the vocabulary of size \(vocabulary)")
      }
    }
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchCount(rows: states.count), 1))
    defer { scratch.deallocate() }
    try runSteps(tokens, states: states, scratch: scratch, logits: logits)
    for state in states { state.length += 1 }
  }
}

/// One layer's part of each sequence's state, for a layer call whose rows belong to
/// several sequences: `rowsPerSequence` consecutive rows each, in order. One sequence's
/// chunk (a prefill or a step) has one pointer; a batched step has one row per sequence.
/// Matrix products run over all rows at once, and what reads the past (a convolution,
/// a scan) runs per sequence on its own state.
public struct LayerStates {
  /// One pointer per sequence, in row order.
  public let pointers: UnsafeBufferPointer<UnsafeMutablePointer<Float>>
  /// Rows of each sequence.
  public let rowsPerSequence: Int

  /// The states `pointers` of sequences of `rowsPerSequence` rows each.
  @inlinable
  public init(pointers: UnsafeBufferPointer<UnsafeMutablePointer<Float>>, rowsPerSequence: Int) {
    self.pointers = pointers
    self.rowsPerSequence = rowsPerSequence
  }

  /// Calls `body(sequence, firstRow, state)` for each sequence.
  @inlinable
  public func forEachSequence(_ body: (_ sequence: Int, _ firstRow: Int, _ state: UnsafeMutablePointer<Float>) -> Void) {
    for s in pointers.indices { body(s, s * rowsPerSequence, pointers[s]) }
  }

  /// Runs `body` with `count` pointers on the stack (a decode step must not allocate)
  /// and the `LayerStates` that reads them over `rows` rows: `body` sets the pointers
  /// for each layer before the layer runs.
  @inlinable
  public static func withStorage<R>(
    sequences count: Int, rows: Int,
    _ body: (UnsafeMutableBufferPointer<UnsafeMutablePointer<Float>>, LayerStates) throws -> R
  ) rethrows -> R {
    try withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: count) { pointers in
      try body(pointers, LayerStates(pointers: UnsafeBufferPointer(pointers), rowsPerSequence: rows / count))
    }
  }
}

extension ForwardInput {
  /// The requested logit rows that fall in tokens `chunk`, as runs of consecutive token
  /// rows: `body(first, outputRow, count)` for tokens `first..<first + count`, whose
  /// logits go to rows `outputRow..<outputRow + count` of the output. A run shares one
  /// GEMM through the head; all rows, when none were picked, make one run per chunk.
  @inlinable
  public func forEachLogitRun(in chunk: Range<Int>, _ body: (_ first: Int, _ outputRow: Int, _ count: Int) -> Void) {
    let wanted = logitRowCount
    var i = 0
    while i < wanted {
      let first = logitRows.map { Int($0[i]) } ?? i
      guard chunk.contains(first) else {
        i += 1
        continue
      }
      var count = 1
      while i + count < wanted, (logitRows.map { Int($0[i + count]) } ?? i + count) == first + count,
        first + count < chunk.upperBound
      {
        count += 1
      }
      body(first, i, count)
      i += count
    }
  }
}
