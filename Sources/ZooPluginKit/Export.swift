import CZooPlugin
import Foundation
import ZooCore
import ZooProto

/// Everything a Swift plugin provides. Hand it to `exportPlugin` from the plugin's
/// `zoo_plugin_init`:
///
/// ```swift
/// @_cdecl("zoo_plugin_init")
/// public func zooPluginInit(
///   _ host: UnsafePointer<zoo_host_api>?, _ out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?,
///   _ err: UnsafeMutablePointer<zoo_error>?
/// ) -> Int32 {
///   exportPlugin(myDefinition, host: host, out: out, error: err)
/// }
/// ```
public struct PluginDefinition: @unchecked Sendable {
  /// Unique plugin name, lowercase [a-z0-9_-].
  public var name: String
  /// The plugin's own semantic version.
  public var version: String
  /// One sentence on what the plugin is for.
  public var description: String
  /// Paper and official code the math follows.
  public var source: String
  /// Sequence layers the plugin implements.
  public var layers: [Zoo_V1_LayerKind]
  /// Model types it builds.
  public var models: [any ModelBuilder.Type]
  /// Decoders it provides.
  public var decoders: [any DecodingStrategy.Type]
  /// Request middleware it provides.
  public var middleware: [any RequestMiddleware.Type]

  /// A plugin made of the given parts; any part may be empty.
  public init(
    name: String, version: String, description: String, source: String = "", layers: [Zoo_V1_LayerKind] = [],
    models: [any ModelBuilder.Type] = [], decoders: [any DecodingStrategy.Type] = [],
    middleware: [any RequestMiddleware.Type] = []
  ) {
    self.name = name
    self.version = version
    self.description = description
    self.source = source
    self.layers = layers
    self.models = models
    self.decoders = decoders
    self.middleware = middleware
  }

  /// The manifest zood validates and shows to clients.
  public var manifest: Zoo_V1_PluginManifest {
    .with {
      $0.name = name
      $0.version = version
      $0.abiMajor = UInt32(ZOO_ABI_MAJOR)
      $0.abiMinor = UInt32(ZOO_ABI_MINOR)
      $0.description_p = description
      $0.source = source
      $0.layers = layers
      $0.modelTypes = models.map { $0.declaration }
      $0.decoders = decoders.map { $0.declaration }
      $0.middleware = middleware.map { $0.declaration }
    }
  }
}

/// The host services zood passed at init; plugins log through it.
public enum PluginHost {
  nonisolated(unsafe) static var api: UnsafePointer<zoo_host_api>?

  /// Log levels (zoo_log_level).
  public enum Level: Int32 { case trace = 0, debug, info, warning, error }

  /// Writes into zood's log, tagged with this plugin's name.
  public static func log(_ level: Level, _ message: String) {
    guard let api else { return }
    api.pointee.log(api.pointee.host_context, level.rawValue, message)
  }

  /// Reports progress of a long step (0...1) with a short label. Without a request it
  /// is a model's load (`zoo load` shows it); with one, a step of that request.
  public static func progress(_ fraction: Double, _ what: String, request: OpaquePointer? = nil) {
    guard let api else { return }
    api.pointee.progress(api.pointee.host_context, request, fraction, what)
  }

  /// True once the request behind `request` was cancelled.
  public static func isCancelled(_ request: OpaquePointer?) -> Bool {
    guard let api, let request else { return false }
    return api.pointee.is_cancelled(api.pointee.host_context, request) != 0
  }
}

// One plugin per shared library: the definition and the C tables live for the
// life of the process (zood never unloads plugins), so they are leaked on purpose.
nonisolated(unsafe) private var exported: (
  definition: PluginDefinition, plugin: UnsafeMutablePointer<zoo_plugin>,
  modelAPI: UnsafeMutablePointer<zoo_model_api>, decoderAPI: UnsafeMutablePointer<zoo_decoder_api>,
  middlewareAPI: UnsafeMutablePointer<zoo_middleware_api>
)?

/// Implements `zoo_plugin_init` for a Swift plugin: builds the manifest and the C
/// function tables from `definition`.
public func exportPlugin(
  _ definition: PluginDefinition, host: UnsafePointer<zoo_host_api>?,
  out: UnsafeMutablePointer<UnsafePointer<zoo_plugin>?>?, error: UnsafeMutablePointer<zoo_error>?
) -> Int32 {
  catchingPluginErrors(error) {
    guard let host, let out else { throw PluginError.invalidArgument("zoo_plugin_init needs a host table and an out pointer") }
    guard host.pointee.abi_major == ZOO_ABI_MAJOR else {
      throw PluginError.failedPrecondition(
        "plugin '\(definition.name)' was built for zoo ABI \(ZOO_ABI_MAJOR).x but the host speaks \(host.pointee.abi_major).\(host.pointee.abi_minor)")
    }
    if let existing = exported {
      out.pointee = UnsafePointer(existing.plugin)
      return
    }
    PluginHost.api = host
    let manifestBytes: [UInt8] = try definition.manifest.serializedBytes()
    let manifest = UnsafeMutablePointer<UInt8>.allocate(capacity: max(manifestBytes.count, 1))
    manifest.initialize(from: manifestBytes, count: manifestBytes.count)

    let modelAPI = UnsafeMutablePointer<zoo_model_api>.allocate(capacity: 1)
    modelAPI.initialize(to: zoo_model_api(
      size: UInt32(MemoryLayout<zoo_model_api>.size), load: modelLoad, unload: modelUnload,
      describe: modelDescribe, state_new: stateNew, state_free: stateFree, state_length: stateLength,
      state_copy: stateCopy, state_truncate: stateTruncate, forward: modelForward, embed: modelEmbed,
      forward_batch: modelForwardBatch))
    let decoderAPI = UnsafeMutablePointer<zoo_decoder_api>.allocate(capacity: 1)
    decoderAPI.initialize(to: zoo_decoder_api(size: UInt32(MemoryLayout<zoo_decoder_api>.size), run: decoderRun))
    let middlewareAPI = UnsafeMutablePointer<zoo_middleware_api>.allocate(capacity: 1)
    middlewareAPI.initialize(
      to: zoo_middleware_api(
        size: UInt32(MemoryLayout<zoo_middleware_api>.size), on_generate: middlewareRun, call: middlewareCall))

    let plugin = UnsafeMutablePointer<zoo_plugin>.allocate(capacity: 1)
    plugin.initialize(to: zoo_plugin(
      size: UInt32(MemoryLayout<zoo_plugin>.size), abi_major: UInt16(ZOO_ABI_MAJOR), abi_minor: UInt16(ZOO_ABI_MINOR),
      manifest: UnsafePointer(manifest), manifest_len: manifestBytes.count,
      model_api: { type in
        guard let type, let e = exported else { return nil }
        let name = String(cString: type)
        return e.definition.models.contains { $0.declaration.modelType == name } ? UnsafePointer(e.modelAPI) : nil
      },
      decoder_api: { name in
        guard let name, let e = exported else { return nil }
        let n = String(cString: name)
        return e.definition.decoders.contains { $0.declaration.name == n } ? UnsafePointer(e.decoderAPI) : nil
      },
      middleware_api: { name in
        guard let name, let e = exported else { return nil }
        let n = String(cString: name)
        return e.definition.middleware.contains { $0.declaration.name == n } ? UnsafePointer(e.middlewareAPI) : nil
      }))
    exported = (definition, plugin, modelAPI, decoderAPI, middlewareAPI)
    out.pointee = UnsafePointer(plugin)
  }
}

// MARK: - C thunks: zoo_model_api and zoo_decoder_api over the Swift protocols.

/// What a zoo_model handle points at: the model, and the arrays `describe` hands out
/// (owned here so they stay valid until unload).
private final class ModelBox {
  let model: any Model
  let info: ModelInfo
  let eos: UnsafeMutableBufferPointer<Int32>
  let headNames: [UnsafeMutablePointer<CChar>]
  let heads: UnsafeMutableBufferPointer<zoo_head_info>

  /// `configTokens` fills the special tokens the model's own info leaves unset;
  /// `heldBytes` is what its load built besides zood's weights (`HeldMemory`).
  init(_ model: any Model, configTokens: SpecialTokens, heldBytes: Int) {
    self.model = model
    var info = model.info
    info.heldBytes = heldBytes
    let own = info.specialTokens
    info.specialTokens = SpecialTokens(
      mask: own.mask ?? configTokens.mask, bos: own.bos ?? configTokens.bos, cls: own.cls ?? configTokens.cls,
      pad: own.pad ?? configTokens.pad, eos: own.eos.isEmpty ? configTokens.eos : own.eos)
    self.info = info
    eos = .allocate(capacity: max(info.specialTokens.eos.count, 1))
    _ = eos.initialize(from: info.specialTokens.eos)
    headNames = info.heads.map { strdup($0.name)! }
    heads = .allocate(capacity: max(info.heads.count, 1))
    for (i, head) in info.heads.enumerated() {
      heads[i] = zoo_head_info(
        size: UInt32(MemoryLayout<zoo_head_info>.size), name: UnsafePointer(headNames[i]), width: Int64(head.width))
    }
  }

  deinit {
    eos.deallocate()
    headNames.forEach { free($0) }
    heads.deallocate()
  }
}

/// The special token ids config.json states (Hugging Face names; eos_token_id may be a
/// list), for models that do not set their own.
private func specialTokens(inConfig json: Data) -> SpecialTokens {
  guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else { return SpecialTokens() }
  func id(_ key: String) -> Int32? { (object[key] as? NSNumber).flatMap { Int32(exactly: $0.doubleValue) } }
  let eos: [Int32] =
    if let list = object["eos_token_id"] as? [NSNumber] { list.compactMap { Int32(exactly: $0.doubleValue) } }
    else { id("eos_token_id").map { [$0] } ?? [] }
  return SpecialTokens(
    mask: id("mask_token_id"), bos: id("bos_token_id"), cls: id("cls_token_id"), pad: id("pad_token_id"), eos: eos)
}

/// What a zoo_state handle points at.
private final class StateBox {
  let state: any ModelState
  init(_ state: any ModelState) { self.state = state }
}

private func box(_ p: OpaquePointer?) -> ModelBox {
  Unmanaged<ModelBox>.fromOpaque(UnsafeRawPointer(p!)).takeUnretainedValue()
}
private func stateBox(_ p: OpaquePointer?) -> StateBox {
  Unmanaged<StateBox>.fromOpaque(UnsafeRawPointer(p!)).takeUnretainedValue()
}

private let modelLoad: @convention(c) (
  UnsafePointer<zoo_model_load_args>?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<zoo_error>?
) -> Int32 = { args, out, err in
  catchingPluginErrors(err) {
    guard let args, let out, let e = exported else { throw PluginError.invalidArgument("load needs args and an out pointer") }
    let a = args.pointee
    let type = String(cString: a.model_type)
    guard let builder = e.definition.models.first(where: { $0.declaration.modelType == type }) else {
      throw PluginError.notFound("plugin '\(e.definition.name)' does not build model_type '\(type)'")
    }
    let config = Data(bytes: a.config_json, count: strlen(a.config_json))
    var weights = Weights(a.weights)
    switch String(cString: zoo_model_load_args_weights_format(args)) {
    case "": break
    case "q8": weights.quantization = .q8
    case let other:
      throw PluginError.invalidArgument("weights format '\(other)' is unknown; zoo.json \"weights\" takes \"q8\" or nothing")
    }
    let context = ModelLoadContext(
      modelType: type, configJSON: config, folder: String(cString: a.folder), weights: weights)
    let (model, held) = try HeldMemory.measure { try builder.load(context) }
    let box = ModelBox(model, configTokens: specialTokens(inConfig: config), heldBytes: held)
    out.pointee = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
  }
}

private let modelUnload: @convention(c) (OpaquePointer?) -> Void = { model in
  guard let model else { return }
  Unmanaged<ModelBox>.fromOpaque(UnsafeRawPointer(model)).release()
}

private let modelDescribe: @convention(c) (OpaquePointer?, UnsafeMutablePointer<zoo_model_info>?) -> Int32 = {
  model, info in
  guard let model, let info else { return Int32(ZOO_ERR_INVALID_ARGUMENT.rawValue) }
  let b = box(model)
  let i = b.info
  var out = zoo_model_info()
  out.size = UInt32(MemoryLayout<zoo_model_info>.size)
  out.vocab_size = Int64(i.vocabularySize)
  out.hidden_size = Int64(i.hiddenSize)
  out.max_positions = Int64(i.maxPositions)
  out.mask_kinds = i.maskKinds.reduce(0) { $0 | (1 << $1.rawValue) }
  out.state_is_fixed = i.stateIsFixed ? 1 : 0
  out.state_bytes = Int64(i.stateBytes)
  out.weight_bytes = Int64(i.weightBytes)
  out.embedding_size = b.model is any EmbeddingModel ? Int64(i.embeddingSize) : 0
  let tokens = i.specialTokens
  out.mask_token_id = tokens.mask ?? -1
  out.bos_token_id = tokens.bos ?? -1
  out.cls_token_id = tokens.cls ?? -1
  out.pad_token_id = tokens.pad ?? -1
  out.n_eos_tokens = Int32(tokens.eos.count)
  out.eos_token_ids = UnsafePointer(b.eos.baseAddress)
  out.n_heads = Int32(i.heads.count)
  out.heads = UnsafePointer(b.heads.baseAddress)
  out.accepts_key_positions = i.acceptsKeyPositions ? 1 : 0
  out.batches_steps = (b.model as? any BatchedStepModel)?.batchesSteps == true ? 1 : 0
  out.held_bytes = Int64(i.heldBytes)
  // Write no more than the caller's struct holds (it may be an older minor).
  withUnsafeBytes(of: &out) { src in
    UnsafeMutableRawPointer(info).copyMemory(
      from: src.baseAddress!, byteCount: min(Int(info.pointee.size), MemoryLayout<zoo_model_info>.size))
  }
  info.pointee.size = min(info.pointee.size, UInt32(MemoryLayout<zoo_model_info>.size))
  return 0
}

private let stateNew: @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<zoo_error>?) -> Int32 = {
  model, out, err in
  catchingPluginErrors(err) {
    let state = try box(model).model.makeState()
    out?.pointee = OpaquePointer(Unmanaged.passRetained(StateBox(state)).toOpaque())
  }
}

private let stateFree: @convention(c) (OpaquePointer?, OpaquePointer?) -> Void = { _, state in
  guard let state else { return }
  Unmanaged<StateBox>.fromOpaque(UnsafeRawPointer(state)).release()
}

private let stateLength: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int64 = { _, state in
  Int64(stateBox(state).state.length)
}

private let stateCopy: @convention(c) (
  OpaquePointer?, OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<zoo_error>?
) -> Int32 = { _, src, out, err in
  catchingPluginErrors(err) {
    let copy = try stateBox(src).state.copy()
    out?.pointee = OpaquePointer(Unmanaged.passRetained(StateBox(copy)).toOpaque())
  }
}

private let stateTruncate: @convention(c) (OpaquePointer?, OpaquePointer?, Int64, UnsafeMutablePointer<zoo_error>?) -> Int32 = {
  _, state, length, err in
  catchingPluginErrors(err) {
    let s = stateBox(state).state
    guard length >= 0, Int(length) <= s.length else {
      throw PluginError.outOfRange("cannot truncate a \(s.length)-token state to \(length) tokens")
    }
    try s.truncate(to: Int(length))
  }
}

private let modelForward: @convention(c) (
  OpaquePointer?, OpaquePointer?, UnsafePointer<zoo_forward_args>?, UnsafeMutablePointer<zoo_error>?
) -> Int32 = { model, state, args, err in
  catchingPluginErrors(err) {
    guard let args else { throw PluginError.invalidArgument("forward needs args") }
    let a = args.pointee
    guard a.n_tokens > 0, let tokens = a.tokens else { throw PluginError.invalidArgument("forward needs at least one token") }
    guard let mask = MaskKind(rawValue: a.mask_kind) else { throw PluginError.invalidArgument("unknown mask kind \(a.mask_kind)") }
    let n = Int(a.n_tokens)
    let request = a.request
    // A head is asked for only by callers that know the field (ABI 1.2) and pass a buffer.
    let head: (index: Int, output: UnsafeMutablePointer<Float>)? = {
      guard zoo_forward_args_has_head(args) != 0, let output = a.head_output else { return nil }
      return (Int(a.head), output)
    }()
    // Key positions likewise come only from callers that know the field (ABI 1.3).
    let keyPositions = zoo_forward_args_has_key_positions(args) != 0
      ? a.key_positions.map { UnsafeBufferPointer(start: $0, count: Int(max(0, a.n_key_positions))) } : nil
    let b = box(model)
    if keyPositions != nil {
      guard b.info.acceptsKeyPositions else {
        throw PluginError.failedPrecondition("this model does not take key positions (zoo_forward_args.key_positions)")
      }
      guard mask == .bidirectional else {
        throw PluginError.invalidArgument("key positions apply to bidirectional calls only; this call's mask is \(mask.name)")
      }
    }
    if let head, !b.info.heads.indices.contains(head.index) {
      throw PluginError.failedPrecondition(
        "forward asked for output head \(head.index); this model has \(b.info.heads.isEmpty ? "none" : b.info.heads.map(\.name).joined(separator: ", "))")
    }
    let input = ForwardInput(
      tokens: UnsafeBufferPointer(start: tokens, count: n),
      positions: a.positions.map { UnsafeBufferPointer(start: $0, count: n) },
      mask: mask, blockSize: Int(a.block_size), keyPositions: keyPositions,
      logitRows: a.logit_rows.map { UnsafeBufferPointer(start: $0, count: Int(a.n_logit_rows)) },
      head: head?.index, isCancelled: { PluginHost.isCancelled(request) })
    if let rows = input.logitRows, let bad = rows.first(where: { $0 < 0 || $0 >= n }) {
      throw PluginError.invalidArgument("logit row \(bad) is outside the \(n) tokens of this call")
    }
    try b.model.forward(
      input, state: stateBox(state).state, output: ForwardOutput(logits: a.logits, hidden: a.hidden, head: head?.output))
  }
}

private let modelForwardBatch: @convention(c) (
  OpaquePointer?, UnsafePointer<zoo_batch_step_args>?, UnsafeMutablePointer<zoo_error>?
) -> Int32 = { model, args, err in
  catchingPluginErrors(err) {
    guard let model = box(model).model as? any BatchedStepModel, model.batchesSteps else {
      throw PluginError.failedPrecondition("this model does not advance sequences in batches")
    }
    guard let args, args.pointee.n_sequences > 0, let states = args.pointee.states, let tokens = args.pointee.tokens,
      let logits = args.pointee.logits
    else { throw PluginError.invalidArgument("forward_batch needs at least one sequence, its tokens and a logits buffer") }
    let n = Int(args.pointee.n_sequences)
    guard (0..<n).allSatisfy({ states[$0] != nil }) else { throw PluginError.invalidArgument("forward_batch was given a NULL state") }
    let boxes = (0..<n).map { stateBox(states[$0]) }
    guard Set(boxes.map(ObjectIdentifier.init)).count == n else {
      throw PluginError.invalidArgument("forward_batch was given the same state twice")
    }
    try model.step(UnsafeBufferPointer(start: tokens, count: n), states: boxes.map(\.state), logits: logits)
  }
}

private let modelEmbed: @convention(c) (
  OpaquePointer?, UnsafePointer<zoo_embed_args>?, UnsafeMutablePointer<zoo_error>?
) -> Int32 = { model, args, err in
  catchingPluginErrors(err) {
    guard let args else { throw PluginError.invalidArgument("embed needs args") }
    guard let embedder = box(model).model as? any EmbeddingModel, embedder.info.embeddingSize > 0 else {
      throw PluginError.failedPrecondition("this model does not produce embeddings")
    }
    let a = args.pointee
    guard a.n_sequences > 0, a.n_tokens > 0, let tokens = a.tokens, let lengths = a.lengths, let out = a.embeddings
    else { throw PluginError.invalidArgument("embed needs at least one sequence, its tokens and an output buffer") }
    let lengthBuffer = UnsafeBufferPointer(start: lengths, count: Int(a.n_sequences))
    guard lengthBuffer.allSatisfy({ $0 >= 1 }), lengthBuffer.reduce(0, +) == a.n_tokens else {
      throw PluginError.invalidArgument("embed lengths must each be >= 1 and sum to n_tokens (\(a.n_tokens))")
    }
    let request = a.request
    try embedder.embed(
      EmbeddingBatch(
        tokens: UnsafeBufferPointer(start: tokens, count: Int(a.n_tokens)), lengths: lengthBuffer,
        isCancelled: { PluginHost.isCancelled(request) }),
      into: out)
  }
}

private let decoderRun: @convention(c) (
  UnsafePointer<zoo_decode_args>?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<zoo_error>?
) -> Int32 = { args, finish, err in
  catchingPluginErrors(err) {
    guard let args, let e = exported, let nameC = args.pointee.decoder else {
      throw PluginError.invalidArgument("run needs args naming a decoder")
    }
    let name = String(cString: nameC)
    guard let decoder = e.definition.decoders.first(where: { $0.declaration.name == name }) else {
      throw PluginError.notFound("plugin '\(e.definition.name)' has no decoder '\(name)'")
    }
    let session = try DecodeSession(args: args)
    let reason: FinishReason
    do {
      reason = try decoder.run(session)
    } catch let e as PluginError where e.code == ZOO_ERR_CANCELLED {
      reason = .cancelled
    }
    finish?.pointee = reason.rawValue
    if reason == .cancelled { throw PluginError.cancelled() }
  }
}

/// The exported middleware named by a C string, as the C thunks below receive it.
private func exportedMiddleware(_ nameC: UnsafePointer<CChar>?, for call: String) throws -> (name: String, type: any RequestMiddleware.Type) {
  guard let e = exported, let nameC else { throw PluginError.invalidArgument("\(call) needs args naming a middleware") }
  let name = String(cString: nameC)
  guard let middleware = e.definition.middleware.first(where: { $0.declaration.name == name }) else {
    throw PluginError.notFound("plugin '\(e.definition.name)' has no middleware '\(name)'")
  }
  return (name, middleware)
}

private let middlewareRun: @convention(c) (UnsafePointer<zoo_middleware_args>?, UnsafeMutablePointer<zoo_error>?) -> Int32 = {
  args, err in
  catchingPluginErrors(err) {
    guard let args else { throw PluginError.invalidArgument("on_generate needs args") }
    let (name, middleware) = try exportedMiddleware(args.pointee.middleware, for: "on_generate")
    guard let replacement = try middleware.handle(MiddlewareCall(args: args, name: name)) else { return }
    let bytes: [UInt8] = try replacement.serializedBytes()
    let rc = bytes.withUnsafeBufferPointer { args.pointee.rewrite(args.pointee.rewrite_context, $0.baseAddress, $0.count) }
    guard rc == 0 else { throw PluginError.internalError("zood refused middleware '\(name)'s rewritten request (\(rc))") }
  }
}

private let middlewareCall: @convention(c) (UnsafePointer<zoo_middleware_call_args>?, UnsafeMutablePointer<zoo_error>?)
  -> Int32 = { args, err in
    catchingPluginErrors(err) {
      guard let args else { throw PluginError.invalidArgument("call needs args") }
      let (name, middleware) = try exportedMiddleware(args.pointee.middleware, for: "call")
      let call = try MiddlewareRPCCall(args: args)
      guard let serving = middleware.rpcs, middleware.declaration.rpcs.contains(call.rpc) else {
        throw PluginError.unimplemented("middleware '\(name)' does not serve \(call.rpc)")
      }
      let bytes: [UInt8] = try serving.serve(call).serializedBytes()
      let rc = bytes.withUnsafeBufferPointer { args.pointee.reply(args.pointee.reply_context, $0.baseAddress, $0.count) }
      guard rc == 0 else { throw PluginError.internalError("zood refused middleware '\(name)'s answer to \(call.rpc) (\(rc))") }
    }
  }
