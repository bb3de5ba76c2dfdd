import CZooPlugin
import Foundation
import ZooABI

/// Continuous batching of decode steps, as llama.cpp's server batches its slots and vLLM
/// its running requests: the one-token forward calls that concurrent requests' decoders
/// make on one model are gathered and run as one `forward_batch`, so each weight matrix
/// is read once per step for all of them. Decoders do not know: each calls `forward` on
/// zood's model table (`CountingModel`) as before and gets its own row back.
///
/// The caller that finds no batch running leads: it waits, at most `gatherWait`, for
/// the members of the last batch that have not stepped again (they are sampling their
/// next token), then runs every step waiting, up to `limit`. Steps that arrive during a
/// batch wait for the next one. A request joins with its first step and leaves when its
/// decoder returns or makes any other call (a prefill runs on its own, beside the
/// batches), so a finished or cancelled request never holds the others back.
final class StepBatcher: @unchecked Sendable {
  /// One sequence's step, waiting for its batch.
  private final class Step {
    let member: ObjectIdentifier
    let state: OpaquePointer
    /// The decoder's own call, valid while it waits; run as it is when the step runs alone.
    let args: UnsafePointer<zoo_forward_args>
    var status: Int32?
    var error = zoo_error.empty

    init(member: ObjectIdentifier, state: OpaquePointer, args: UnsafePointer<zoo_forward_args>) {
      self.member = member
      self.state = state
      self.args = args
    }
  }

  /// What forward_batch answers when it refused the batch and changed no state.
  private static let refusals = [ZOO_ERR_INVALID_ARGUMENT, ZOO_ERR_OUT_OF_RANGE, ZOO_ERR_FAILED_PRECONDITION]

  private let handle: ModelHandle
  private let modelName: String
  /// The most sequences in one batch (zood --parallel).
  let limit: Int
  /// How long a leader waits for the last batch's members to step again. Sampling and
  /// streaming a token take microseconds; this bounds the wait for one that stalls.
  let gatherWait: TimeInterval

  private let condition = NSCondition()
  private var waiting: [Step] = []
  private var running = false
  /// Members whose last step ran in a batch and who have not stepped again since.
  private var between = Set<ObjectIdentifier>()

  init(handle: ModelHandle, modelName: String, limit: Int, gatherWait: TimeInterval = 0.002) {
    self.handle = handle
    self.modelName = modelName
    self.limit = limit
    self.gatherWait = gatherWait
  }

  /// True when `args` is a decode step that a batch can carry: one token continuing the
  /// sequence, causal, its logits and nothing else.
  static func isDecodeStep(_ args: UnsafePointer<zoo_forward_args>) -> Bool {
    let a = args.pointee
    return a.n_tokens == 1 && a.tokens != nil && a.logits != nil && a.hidden == nil && a.positions == nil
      && a.mask_kind == Int32(ZOO_MASK_CAUSAL.rawValue)
      && (a.logit_rows == nil || (a.n_logit_rows == 1 && a.logit_rows[0] == 0))
      && (zoo_forward_args_has_head(args) == 0 || a.head_output == nil)
      && (zoo_forward_args_has_key_positions(args) == 0 || a.key_positions == nil)
  }

  /// Runs `member`'s decode step in the next batch and returns its status, writing a
  /// failure into `error`.
  func step(
    _ member: ObjectIdentifier, state: OpaquePointer, args: UnsafePointer<zoo_forward_args>,
    error: UnsafeMutablePointer<zoo_error>?
  ) -> Int32 {
    let mine = Step(member: member, state: state, args: args)
    condition.lock()
    between.remove(member)
    waiting.append(mine)
    condition.broadcast()  // a leader may be waiting for this member
    while mine.status == nil {
      if running {
        condition.wait()
        continue
      }
      // Lead: gather the last batch's members, then run what waits.
      running = true
      let deadline = Date(timeIntervalSinceNow: gatherWait)
      while !between.isEmpty && waiting.count < limit {
        if !condition.wait(until: deadline) { break }
      }
      let batch = Array(waiting.prefix(limit))
      waiting.removeFirst(batch.count)
      condition.unlock()
      let results = run(batch)
      condition.lock()
      for (step, result) in zip(batch, results) {
        (step.status, step.error) = result
        between.insert(step.member)
      }
      running = false
      condition.broadcast()
    }
    let status = mine.status!
    if status != 0 { error?.pointee = mine.error }
    condition.unlock()
    return status
  }

  /// `member` made a call that is not a batched step, or its decoder returned: the next
  /// batch does not wait for it.
  func leave(_ member: ObjectIdentifier) {
    condition.lock()
    if between.remove(member) != nil { condition.broadcast() }
    condition.unlock()
  }

  /// Runs the steps: one alone as the decoder's own call; several in one forward_batch,
  /// then, if the model refused the batch, each alone, so each request gets its own
  /// answer.
  private func run(_ batch: [Step]) -> [(Int32, zoo_error)] {
    func alone(_ step: Step) -> (Int32, zoo_error) {
      var err = zoo_error.empty
      return (handle.api.pointee.forward(handle.model, step.state, step.args, &err), err)
    }
    guard batch.count > 1 else { return batch.map(alone) }
    let vocabulary = handle.info.vocabularySize
    let logits = UnsafeMutablePointer<Float>.allocate(capacity: batch.count * vocabulary)
    defer { logits.deallocate() }
    let tokens = batch.map { $0.args.pointee.tokens[0] }
    do {
      try tokens.withUnsafeBufferPointer { try handle.forwardBatch($0, states: batch.map(\.state), logits: logits) }
    } catch let refusal as PluginError where Self.refusals.contains(refusal.code) {
      // Refused with every state unchanged: one of them is at fault, and alone it hears why.
      return batch.map(alone)
    } catch {
      var err = zoo_error.empty
      let rc = (error as? PluginError ?? .internalError("\(error)")).write(to: &err)
      return batch.map { _ in (rc, err) }
    }
    ServingMetrics.batchedStep(model: modelName, sequences: batch.count)
    for (row, step) in batch.enumerated() {
      step.args.pointee.logits.update(from: logits + row * vocabulary, count: vocabulary)
    }
    return batch.map { _ in (0, zoo_error.empty) }
  }
}
