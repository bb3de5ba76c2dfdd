import ZooPluginKit

/// Outputs of one forward call: logits (rows × vocabulary) and hidden states (tokens ×
/// hidden size), each empty when not asked for.
public struct ForwardResult {
  public var logits: [Float]
  public var hidden: [Float]

  public init(logits: [Float], hidden: [Float]) {
    self.logits = logits
    self.hidden = hidden
  }
}

/// Runs one `Model.forward` call on Swift arrays. Logits are written for `logitRows`
/// (nil: every token) when `wantLogits`, hidden states for every token when
/// `wantHidden`; outputs start as NaN so rows the model skips show up in comparisons.
public func runForward(
  _ model: any Model, state: any ModelState, tokens: [Int32], logitRows: [Int64]? = nil,
  positions: [Int64]? = nil, mask: MaskKind = .causal, wantLogits: Bool = true, wantHidden: Bool = false,
  isCancelled: @escaping () -> Bool = { false }
) throws -> ForwardResult {
  let vocab = model.info.vocabularySize
  let rowCount = logitRows?.count ?? tokens.count
  var logits = [Float](repeating: .nan, count: wantLogits ? rowCount * vocab : 0)
  var hidden = [Float](repeating: .nan, count: wantHidden ? tokens.count * model.info.hiddenSize : 0)
  try tokens.withUnsafeBufferPointer { tokenBuffer in
    try withOptionalBuffer(logitRows) { rowBuffer in
      try withOptionalBuffer(positions) { positionBuffer in
        try logits.withUnsafeMutableBufferPointer { logitBuffer in
          try hidden.withUnsafeMutableBufferPointer { hiddenBuffer in
            let input = ForwardInput(
              tokens: tokenBuffer, positions: positionBuffer, mask: mask, logitRows: rowBuffer,
              isCancelled: isCancelled)
            let output = ForwardOutput(
              logits: wantLogits ? logitBuffer.baseAddress : nil, hidden: wantHidden ? hiddenBuffer.baseAddress : nil)
            try model.forward(input, state: state, output: output)
          }
        }
      }
    }
  }
  return ForwardResult(logits: logits, hidden: hidden)
}

/// Calls `body` with a buffer over `array`, or with nil when there is no array (the
/// "not given" of optional forward inputs).
public func withOptionalBuffer<T, R>(_ array: [T]?, _ body: (UnsafeBufferPointer<T>?) throws -> R) rethrows -> R {
  guard let array else { return try body(nil) }
  return try array.withUnsafeBufferPointer { try body($0) }
}

/// Rows `range` of a row-major matrix of `width` columns.
public func rows(_ values: [Float], width: Int, _ range: Range<Int>) -> [Float] {
  Array(values[range.lowerBound * width..<range.upperBound * width])
}
