import XCTest
import ZooPluginKit

/// Checks a model's batched decode step (`BatchedStepModel.step`, the C ABI's
/// forward_batch) against stepping each sequence alone: sequences of `lengths` tokens of
/// `tokens` (all different lengths, so each sits at its own position) take their next
/// `steps` tokens in batches, and copies of them take the same tokens one forward call
/// at a time. Every row's logits must agree within `Tolerance.reordered` (a GEMM over
/// the batch against a GEMV), and each state must have advanced by one per step; a later
/// step agreeing also shows each sequence's state was advanced by its own row.
public func assertBatchedStepsMatchSteppingAlone(
  _ model: any BatchedStepModel, tokens: [Int32], lengths: [Int], steps: Int = 2, _ what: String,
  file: StaticString = #filePath, line: UInt = #line
) throws {
  let batched = try lengths.map { length in
    let state = try model.makeState()
    try Array(tokens.prefix(length)).withUnsafeBufferPointer { t in
      try model.forward(ForwardInput(tokens: t), state: state, output: ForwardOutput())
    }
    return state
  }
  let alone = try batched.map { try $0.copy() }
  let vocabulary = model.info.vocabularySize
  for step in 0..<steps {
    let next = lengths.map { tokens[$0 + step] }
    var logits = [Float](repeating: .nan, count: lengths.count * vocabulary)
    try next.withUnsafeBufferPointer { t in
      try logits.withUnsafeMutableBufferPointer { try model.step(t, states: batched, logits: $0.baseAddress!) }
    }
    for (i, state) in alone.enumerated() {
      var single = [Float](repeating: .nan, count: vocabulary)
      try [next[i]].withUnsafeBufferPointer { t in
        try single.withUnsafeMutableBufferPointer { out in
          try model.forward(ForwardInput(tokens: t), state: state, output: ForwardOutput(logits: out.baseAddress))
        }
      }
      assertClose(
        Array(logits[(i * vocabulary)..<((i + 1) * vocabulary)]), single, .reordered,
        "\(what): sequence \(i) (\(lengths[i] + step) tokens before), batched step \(step)", file: file, line: line)
      XCTAssertEqual(batched[i].length, lengths[i] + step + 1, what, file: file, line: line)
    }
  }
}
