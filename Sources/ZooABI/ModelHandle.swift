import CZooPlugin
import Foundation

/// A model seen through its C table (zoo_model_api): how decoders drive a model that
/// may live in another plugin, and how zood drives every model.
public final class ModelHandle: @unchecked Sendable {
  /// The model's function table.
  public let api: UnsafePointer<zoo_model_api>
  /// The plugin's opaque model.
  public let model: OpaquePointer
  /// What the model said about itself when the handle was made.
  public let info: ModelInfo

  /// Wraps a loaded model and asks it to describe itself.
  public init(api: UnsafePointer<zoo_model_api>, model: OpaquePointer) throws {
    self.api = api
    self.model = model
    var raw = zoo_model_info.empty
    let rc = api.pointee.describe(model, &raw)
    guard rc == 0 else { throw PluginError(ZOO_ERR_INTERNAL, "the model's describe call failed (\(rc))") }
    info = ModelInfo(raw)
  }

  /// One vector of `info.embeddingSize` floats per sequence; sequence i is
  /// `lengths[i]` tokens of `tokens`.
  public func embed(
    _ tokens: UnsafeBufferPointer<Int32>, lengths: UnsafeBufferPointer<Int64>,
    into embeddings: UnsafeMutablePointer<Float>, request: OpaquePointer? = nil
  ) throws {
    // Tables of ABI 1.0 end before the embed slot.
    guard info.embeddingSize > 0, zoo_model_api_has_embed(api) != 0, let embedFn = api.pointee.embed else {
      throw PluginError.failedPrecondition("this model does not produce embeddings")
    }
    var args = zoo_embed_args()
    args.size = UInt32(MemoryLayout<zoo_embed_args>.size)
    args.tokens = tokens.baseAddress
    args.lengths = lengths.baseAddress
    args.n_sequences = Int64(lengths.count)
    args.n_tokens = Int64(tokens.count)
    args.embeddings = embeddings
    args.request = request
    var err = zoo_error.empty
    try check(embedFn(model, &args, &err), err)
  }

  /// A per-sequence state, freed when the last reference goes.
  public final class State: @unchecked Sendable {
    let handle: ModelHandle
    /// The plugin's opaque state.
    public let pointer: OpaquePointer

    init(handle: ModelHandle, pointer: OpaquePointer) {
      self.handle = handle
      self.pointer = pointer
    }

    /// Tokens the state has consumed.
    public var length: Int { Int(handle.api.pointee.state_length(handle.model, pointer)) }

    /// A deep copy, when the model supports it.
    public func copy() throws -> State {
      guard let copyFn = handle.api.pointee.state_copy else {
        throw PluginError.failedPrecondition("this model's state cannot be copied")
      }
      var out: OpaquePointer?
      var err = zoo_error.empty
      try check(copyFn(handle.model, pointer, &out, &err), err)
      return State(handle: handle, pointer: out!)
    }

    /// Keeps the first `length` tokens, when the model supports it.
    public func truncate(to length: Int) throws {
      guard let fn = handle.api.pointee.state_truncate else {
        throw PluginError.failedPrecondition("this model's state cannot be truncated")
      }
      var err = zoo_error.empty
      try check(fn(handle.model, pointer, Int64(length), &err), err)
    }

    deinit { handle.api.pointee.state_free(handle.model, pointer) }
  }

  /// True when zood may advance several of this model's sequences in one
  /// `forward_batch` call: the model says so and its table has the slot (ABI 1.6).
  public var batchesSteps: Bool { info.batchesSteps && zoo_model_api_has_forward_batch(api) != 0 }

  /// A fresh, empty per-sequence state.
  public func makeState() throws -> State {
    var out: OpaquePointer?
    var err = zoo_error.empty
    try check(api.pointee.state_new(model, &out, &err), err)
    return State(handle: self, pointer: out!)
  }

  /// Appends `tokens` to `state`; writes logits of `logitRows` (nil = all rows) into
  /// `logits` (rows × vocabulary), if given final hidden states into `hidden`, and if
  /// given head `head.index`'s output for the same rows into `head.output`. With
  /// `keyPositions` (bidirectional calls, models that accept them) the tokens attend to
  /// exactly those positions.
  public func forward(
    _ tokens: UnsafeBufferPointer<Int32>, state: State, positions: UnsafeBufferPointer<Int64>? = nil,
    mask: MaskKind = .causal, blockSize: Int = 0, keyPositions: UnsafeBufferPointer<Int64>? = nil,
    logitRows: UnsafeBufferPointer<Int64>? = nil,
    logits: UnsafeMutablePointer<Float>?, hidden: UnsafeMutablePointer<Float>? = nil,
    head: (index: Int, output: UnsafeMutablePointer<Float>)? = nil, request: OpaquePointer? = nil
  ) throws {
    var args = zoo_forward_args()
    args.size = UInt32(MemoryLayout<zoo_forward_args>.size)
    args.tokens = tokens.baseAddress
    args.n_tokens = Int64(tokens.count)
    args.positions = positions?.baseAddress
    args.mask_kind = mask.rawValue
    args.block_size = Int64(blockSize)
    args.logit_rows = logitRows?.baseAddress
    args.n_logit_rows = Int64(logitRows?.count ?? tokens.count)
    args.logits = logits
    args.hidden = hidden
    args.request = request
    args.key_positions = keyPositions?.baseAddress
    args.n_key_positions = Int64(keyPositions?.count ?? 0)
    if let head {
      args.head = Int32(head.index)
      args.head_output = head.output
    }
    var err = zoo_error.empty
    try check(api.pointee.forward(model, state.pointer, &args, &err), err)
  }
}

extension ModelHandle {
  /// Advances each state of `states` (zoo_state pointers of this model, distinct) by
  /// its token of `tokens` in one pass (forward_batch, ABI 1.6) and writes their
  /// next-token logits to `logits`, one row of the vocabulary per state.
  public func forwardBatch(
    _ tokens: UnsafeBufferPointer<Int32>, states: [OpaquePointer], logits: UnsafeMutablePointer<Float>
  ) throws {
    guard batchesSteps, let forwardBatch = api.pointee.forward_batch else {
      throw PluginError.failedPrecondition("this model does not advance sequences in batches")
    }
    guard states.count == tokens.count else {
      throw PluginError.invalidArgument("forward_batch needs one token per state (\(tokens.count) for \(states.count))")
    }
    var err = zoo_error.empty
    let rc = states.map(Optional.init).withUnsafeBufferPointer { states in
      var args = zoo_batch_step_args(
        size: UInt32(MemoryLayout<zoo_batch_step_args>.size), n_sequences: Int64(tokens.count),
        states: states.baseAddress, tokens: tokens.baseAddress, logits: logits)
      return forwardBatch(model, &args, &err)
    }
    try check(rc, err)
  }
}

extension zoo_error {
  /// A zeroed error record with its size set, ready to pass to a call.
  public static var empty: zoo_error {
    var e = zoo_error()
    e.size = UInt32(MemoryLayout<zoo_error>.size)
    return e
  }
}

/// Throws the PluginError a call reported, if it did not return ZOO_OK.
@inline(__always)
public func check(_ rc: Int32, _ err: zoo_error) throws {
  if rc != 0 { throw PluginError(code: rc, from: err) }
}
