import ZooPluginKit

/// What a transformer model of this plugin provides; the forward contract around it
/// (input checks, cache planning, cancellation, outputs) is the shared `forward` below.
///
/// A layer stack reads the embedded rows `x` [rows, hidden], writes each layer's keys and
/// values into the cache slots of the call's positions, attends by position, and leaves
/// the last layer's output in `x`.
protocol CachedTransformer: Model {
  var modelType: String { get }
  var vocabularySize: Int { get }
  var hiddenSize: Int { get }
  var layerCount: Int { get }
  var cacheLayout: KVCacheLayout { get }
  /// Why this model cannot produce logits (an encoder without an LM head), or nil.
  var logitsUnavailable: String? { get }
  /// Logits at position p come from the hidden state at p − 1 (p = 0 keeps its own);
  /// the cache layout then keeps hidden states by position.
  var shiftsLogits: Bool { get }
  /// Scratch floats `prepare` and `layer` need for `rows` tokens against `keys` slots,
  /// `gatheredKeys` of them named by the call's key positions (0 without).
  func layerScratchCount(rows: Int, keys: Int, gatheredKeys: Int) -> Int
  /// Token (and position) embeddings of the call's tokens into `x`.
  func embedTokens(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], into x: UnsafeMutablePointer<Float>)
  /// Per-call work shared by all layers (e.g. the RoPE table), written into `scratch`.
  func prepare(_ plan: CachePlan, scratch: UnsafeMutablePointer<Float>)
  /// Runs layer `layer` in place on `x`.
  func layer(
    _ layer: Int, _ x: UnsafeMutablePointer<Float>, plan: CachePlan, cache: KVCacheState,
    scratch: UnsafeMutablePointer<Float>)
  /// The final norm, in place (the hidden states zoo returns).
  func finalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int)
  /// Logits of `rows` final hidden rows; `scratch` holds rows × hidden floats.
  func logits(
    _ hidden: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>,
    into logits: UnsafeMutablePointer<Float>)
  /// Output head `index` (into `info.heads`) of `rows` final hidden rows.
  func head(_ index: Int, _ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>)
}

extension CachedTransformer {
  /// Tokens per chunk of a long causal prefill.
  static var prefillChunkRows: Int { 512 }

  var shiftsLogits: Bool { false }

  /// Models without heads: the SDK refuses a head index their info does not list.
  func head(_ index: Int, _ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {}

  func makeState() throws -> any ModelState { KVCacheState(layout: cacheLayout) }

  /// One forward call as zoo_forward_args defines it. Everything that can be refused is
  /// checked before the state is touched; cancellation is polled between layers of a
  /// multi-token call (after it the state may only be freed, as the ABI allows).
  func forward(_ input: ForwardInput, state anyState: any ModelState, output: ForwardOutput) throws {
    guard let state = anyState as? KVCacheState, state.layout == cacheLayout else {
      throw PluginError.invalidArgument("the state passed to \(modelType) forward was not made by this model")
    }
    let n = input.tokens.count
    for (i, token) in input.tokens.enumerated() where token < 0 || Int(token) >= vocabularySize {
      throw PluginError.invalidArgument("token id \(token) at row \(i) is outside the vocabulary of size \(vocabularySize)")
    }
    if output.logits != nil, let reason = logitsUnavailable { throw PluginError.failedPrecondition(reason) }
    guard info.maskKinds.contains(input.mask) else {
      let offered = MaskKind.allCases.filter(info.maskKinds.contains).map(\.name).joined(separator: ", ")
      throw PluginError.failedPrecondition(
        "\(modelType) models were trained with the \(offered) mask only; a \(input.mask.name) forward would not be the model")
    }
    let plan = try CachePlan(input, length: state.length, maxPositions: cacheLayout.maxPositions)

    state.reserve(plan.newLength)
    // A long causal prefill runs in chunks, so scratch stays bounded; other masks let
    // early tokens see late ones and must run as one.
    let chunk = plan.isChunkable ? min(n, Self.prefillChunkRows) : n
    let d = hiddenSize
    let headRows = output.logits == nil && output.head == nil ? 0 : input.logitRowCount
    let scratch = state.scratch(n * d + 2 * headRows * d + layerScratchCount(rows: chunk, keys: plan.keySlots?.count ?? plan.newLength, gatheredKeys: plan.keySlots?.count ?? 0))
    let x = scratch
    let layerScratch = scratch + n * d + 2 * headRows * d
    for start in stride(from: 0, to: n, by: chunk) {
      let rows = start..<min(n, start + chunk)
      let part = chunk == n ? plan : plan.rows(rows)
      let xs = x + start * d
      embedTokens(UnsafeBufferPointer(rebasing: input.tokens[rows]), positions: part.positions, into: xs)
      prepare(part, scratch: layerScratch)
      for layer in 0..<layerCount {
        if n > 1, input.isCancelled() { throw PluginError.cancelled() }
        self.layer(layer, xs, plan: part, cache: state, scratch: layerScratch)
      }
    }
    state.length = plan.newLength
    finalNorm(x, rows: n)
    output.hidden?.update(from: x, count: n * d)
    if shiftsLogits, let kept = state.hidden {
      for (r, p) in plan.positions.enumerated() { (kept + p * d).update(from: x + r * d, count: d) }
    }
    if headRows > 0 {
      // Only the requested rows go through the heads.
      var rows = UnsafePointer(x)
      if shiftsLogits, let kept = state.hidden {
        // Row r's logits read the hidden state of the position before it (written by this
        // call or kept from an earlier one).
        let gathered = x + n * d
        for r in 0..<headRows {
          let p = plan.positions[input.logitRows.map { Int($0[r]) } ?? r]
          (gathered + r * d).update(from: kept + max(p - 1, 0) * d, count: d)
        }
        rows = UnsafePointer(gathered)
      } else if let wanted = input.logitRows {
        let gathered = x + n * d
        for (r, row) in wanted.enumerated() { (gathered + r * d).update(from: x + Int(row) * d, count: d) }
        rows = UnsafePointer(gathered)
      }
      if let logits = output.logits {
        self.logits(rows, rows: headRows, scratch: x + n * d + headRows * d, into: logits)
      }
      if let index = input.head, let out = output.head { head(index, rows, rows: headRows, into: out) }
    }
    state.trimScratch()
  }
}
