import CZooPlugin

/// How query positions see each other in one forward call (zoo_mask_kind).
public enum MaskKind: Int32, Sendable, CaseIterable {
  /// Position i sees cached positions and positions <= i.
  case causal = 0
  /// Every position sees every position.
  case bidirectional = 1
  /// Causal across blocks of `blockSize`, bidirectional inside a block.
  case blockCausal = 2

  /// The name clients see (ModelFacts.mask_kinds).
  public var name: String {
    switch self {
    case .causal: "causal"
    case .bidirectional: "bidirectional"
    case .blockCausal: "block_causal"
    }
  }
}

/// Token ids with a special role, as a model reports them (zoo_model_info since ABI
/// 1.2). nil = the model has none.
public struct SpecialTokens: Sendable, Equatable {
  /// The [MASK] id masked-diffusion decoders write into positions still to decode.
  public var mask: Int32?
  /// Beginning of sequence.
  public var bos: Int32?
  /// The classification token encoders (and insertion LMs) put first.
  public var cls: Int32?
  /// Padding.
  public var pad: Int32?
  /// Ids that end a sequence.
  public var eos: [Int32]

  /// Special tokens as given; all nil and no EOS by default.
  public init(mask: Int32? = nil, bos: Int32? = nil, cls: Int32? = nil, pad: Int32? = nil, eos: [Int32] = []) {
    self.mask = mask
    self.bos = bos
    self.cls = cls
    self.pad = pad
    self.eos = eos
  }
}

/// A named output of a model besides its logits (zoo_head_info), e.g. an insertion
/// LM's "stop" head.
public struct OutputHead: Sendable, Equatable {
  /// The name decoders ask for.
  public var name: String
  /// Floats per row.
  public var width: Int

  /// A head called `name` with `width` floats per row.
  public init(name: String, width: Int) {
    self.name = name
    self.width = width
  }
}

/// What a loaded model reports about itself (zoo_model_info).
public struct ModelInfo: Sendable {
  /// Rows of the logits.
  public var vocabularySize: Int
  /// Width of the final hidden states.
  public var hiddenSize: Int
  /// Most positions a sequence may have; 0 = unbounded.
  public var maxPositions: Int
  /// Mask kinds `forward` accepts.
  public var maskKinds: Set<MaskKind>
  /// True when state size does not grow with length (recurrent).
  public var stateIsFixed: Bool
  /// Fixed state bytes, or bytes per token when growing.
  public var stateBytes: Int
  /// Bytes of weights the model reads.
  public var weightBytes: Int
  /// Length of the vectors `EmbeddingModel.embed` returns; 0 = cannot embed.
  public var embeddingSize: Int
  /// Special token ids; a Swift plugin's are read from config.json unless the model
  /// sets them.
  public var specialTokens: SpecialTokens
  /// Outputs besides the logits that `forward` writes on request.
  public var heads: [OutputHead]
  /// True when `forward` honours explicit key positions (ABI 1.3).
  public var acceptsKeyPositions: Bool
  /// True when the model advances several sequences by one token each in one pass
  /// (zoo_model_api.forward_batch, ABI 1.6).
  public var batchesSteps: Bool
  /// Bytes of memory the model built for itself at load besides zood's weights (ABI 1.8;
  /// a Swift plugin's are measured by `HeldMemory`, so a model leaves it 0).
  public var heldBytes: Int = 0

  /// A model's description; the optional parts default to none.
  public init(
    vocabularySize: Int, hiddenSize: Int, maxPositions: Int = 0, maskKinds: Set<MaskKind> = [.causal],
    stateIsFixed: Bool, stateBytes: Int, weightBytes: Int, embeddingSize: Int = 0,
    specialTokens: SpecialTokens = SpecialTokens(), heads: [OutputHead] = [], acceptsKeyPositions: Bool = false,
    batchesSteps: Bool = false
  ) {
    self.embeddingSize = embeddingSize
    self.vocabularySize = vocabularySize
    self.hiddenSize = hiddenSize
    self.maxPositions = maxPositions
    self.maskKinds = maskKinds
    self.stateIsFixed = stateIsFixed
    self.stateBytes = stateBytes
    self.weightBytes = weightBytes
    self.specialTokens = specialTokens
    self.heads = heads
    self.acceptsKeyPositions = acceptsKeyPositions
    self.batchesSteps = batchesSteps
  }

  /// The index of the head called `name`, if the model has one.
  public func head(named name: String) -> Int? { heads.firstIndex { $0.name == name } }
}

extension ModelInfo {
  /// Reads a zoo_model_info as `describe` filled it. Fields past what the plugin wrote
  /// (an older minor) read as absent: the caller pre-fills special ids with -1.
  public init(_ raw: zoo_model_info) {
    var kinds: Set<MaskKind> = []
    for k in MaskKind.allCases where raw.mask_kinds & (1 << k.rawValue) != 0 { kinds.insert(k) }
    var raw = raw
    let tokens = withUnsafePointer(to: &raw) { p -> SpecialTokens in
      guard zoo_model_info_has_special_tokens(p) != 0 else { return SpecialTokens() }
      func id(_ v: Int32) -> Int32? { v >= 0 ? v : nil }
      let eos = p.pointee.eos_token_ids.map { Array(UnsafeBufferPointer(start: $0, count: Int(max(0, p.pointee.n_eos_tokens)))) } ?? []
      return SpecialTokens(
        mask: id(p.pointee.mask_token_id), bos: id(p.pointee.bos_token_id), cls: id(p.pointee.cls_token_id),
        pad: id(p.pointee.pad_token_id), eos: eos)
    }
    let heads = withUnsafePointer(to: &raw) { p -> [OutputHead] in
      guard zoo_model_info_has_heads(p) != 0, let heads = p.pointee.heads, p.pointee.n_heads > 0 else { return [] }
      return UnsafeBufferPointer(start: heads, count: Int(p.pointee.n_heads)).map {
        OutputHead(name: $0.name.map { String(cString: $0) } ?? "", width: Int($0.width))
      }
    }
    let embeddingSize = withUnsafePointer(to: &raw) { zoo_model_info_has_embedding_size($0) != 0 ? Int($0.pointee.embedding_size) : 0 }
    let keyPositions = withUnsafePointer(to: &raw) { zoo_model_info_has_key_positions($0) != 0 && $0.pointee.accepts_key_positions != 0 }
    let batchesSteps = withUnsafePointer(to: &raw) { zoo_model_info_has_batches_steps($0) != 0 && $0.pointee.batches_steps != 0 }
    let heldBytes = withUnsafePointer(to: &raw) { zoo_model_info_has_held_bytes($0) != 0 ? Int(max(0, $0.pointee.held_bytes)) : 0 }
    self.init(
      vocabularySize: Int(raw.vocab_size), hiddenSize: Int(raw.hidden_size), maxPositions: Int(raw.max_positions),
      maskKinds: kinds, stateIsFixed: raw.state_is_fixed != 0, stateBytes: Int(raw.state_bytes),
      weightBytes: Int(raw.weight_bytes), embeddingSize: embeddingSize, specialTokens: tokens, heads: heads,
      acceptsKeyPositions: keyPositions, batchesSteps: batchesSteps)
    self.heldBytes = heldBytes
  }
}

extension zoo_model_info {
  /// A record ready for `describe`: its size set and special ids -1 ("none"), so the
  /// fields an older plugin does not write read as absent.
  public static var empty: zoo_model_info {
    var info = zoo_model_info()
    info.size = UInt32(MemoryLayout<zoo_model_info>.size)
    info.mask_token_id = -1
    info.bos_token_id = -1
    info.cls_token_id = -1
    info.pad_token_id = -1
    return info
  }
}
