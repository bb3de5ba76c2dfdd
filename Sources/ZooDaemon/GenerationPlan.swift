import CZooPlugin
import Foundation
import ZooABI
import ZooCore
import ZooProto

/// The decoder a request runs, resolved once: its plugin, declaration and C table.
struct ResolvedDecoder: @unchecked Sendable {
  let name: String
  let plugin: LoadedPlugin
  let kind: Zoo_V1_DecoderKind
  let api: UnsafePointer<zoo_decoder_api>
}

/// A request ready to run: token ids, its decoder, concrete options.
struct PreparedGeneration: Sendable {
  let prompt: [Int32]
  /// For a template (GenerateRequest.segments): prompt.count + 1 flags, 1 where the
  /// decoder may insert (zoo_decode_args.gaps). nil for a plain prompt.
  let gaps: [UInt8]?
  let decoder: ResolvedDecoder
  /// Every common option and every declared decoder option filled in.
  let options: Zoo_V1_GenerateOptions
  let tokenizer: (any Tokenizer)?
  let eosTokens: [Int32]
}

/// What a model offers decoders: from the loaded model's info when a request runs, from
/// the model type's declaration and config.json when `zoo show` lists the decoders a
/// model can run without loading it.
struct ModelAbilities {
  var maskKinds: Set<MaskKind>
  var hasMaskToken: Bool
  var heads: [String]
  var stateCopy: Bool
  var stateTruncate: Bool

  init(_ model: LoadedModel) {
    let info = model.handle.info
    let declared = model.plugin.manifest.modelTypes.first { $0.modelType == model.folder.modelType }?.capabilities
    maskKinds = info.maskKinds
    hasMaskToken = info.specialTokens.mask != nil
    heads = info.heads.map(\.name)
    stateCopy = declared?.stateCopy ?? false
    stateTruncate = declared?.stateTruncate ?? false
  }

  init(declared: Zoo_V1_Capabilities, folder: ModelFolder) {
    maskKinds =
      switch declared.causality {
      case .causal: [.causal]
      case .bidirectional: [.bidirectional]
      case .either: Set(MaskKind.allCases)
      default: []
      }
    hasMaskToken = folder.maskToken != nil
    heads = declared.stopHead ? ["stop"] : []
    stateCopy = declared.stateCopy
    stateTruncate = declared.stateTruncate
  }

  /// What `kind` needs that the model lacks, as a phrase, or nil when they fit.
  func missing(for kind: Zoo_V1_DecoderKind) -> String? {
    switch kind.requires {
    case .causal where !maskKinds.contains(.causal):
      return "a causal model, and this one is bidirectional only"
    case .bidirectional where !maskKinds.contains(.bidirectional) && !maskKinds.contains(.blockCausal):
      return "a bidirectional model, and this one is causal only"
    default: break
    }
    if kind.requiresMaskToken && !hasMaskToken {
      return "a mask token, and this model has none (config.json mask_token_id)"
    }
    if let head = kind.requiresHeads.first(where: { !heads.contains($0) }) {
      return "an output head '\(head)', and this model has \(heads.isEmpty ? "none" : heads.joined(separator: ", "))"
    }
    if kind.requiresStateCopy && !stateCopy { return "a state that can be copied" }
    if kind.requiresStateTruncate && !stateTruncate { return "a state that can be truncated" }
    return nil
  }
}

extension Runtime {
  /// The decoder `options` name (else the model's default), checked against the model
  /// from declared capabilities alone, before it runs: causality, mask token, heads,
  /// state copy and truncate. The one place a decoder name is resolved.
  func resolveDecoder(_ options: Zoo_V1_GenerateOptions, for model: LoadedModel) throws -> ResolvedDecoder {
    let name = options.decoder.isEmpty ? defaultDecoder(for: model.folder, ModelAbilities(model)) : options.decoder
    guard let (plugin, kind) = decoders[name] else {
      throw ZooError.invalidArgument(
        "unknown decoder '\(name.clipped())'; available: \(decoders.keys.sorted().joined(separator: ", "))")
    }
    if let missing = ModelAbilities(model).missing(for: kind) {
      throw ZooError.failedPrecondition(
        "decoder '\(name)' cannot run on model '\(model.folder.name)': the decoder needs \(missing)")
    }
    guard let api = plugin.decoderAPI(for: name) else {
      throw ZooError.unavailable("plugin '\(plugin.name)' declares decoder '\(name)' but gave no table for it")
    }
    return ResolvedDecoder(name: name, plugin: plugin, kind: kind, api: api)
  }

  /// Tokenizes and checks the prompt, and fills the decoder's options.
  func prepare(
    _ request: Zoo_V1_GenerateRequest, options: Zoo_V1_GenerateOptions, decoder: ResolvedDecoder, model: LoadedModel
  ) throws -> PreparedGeneration {
    let folder = model.folder
    var options = options
    options.decoder = decoder.name
    options.decoderOptions = try RequestValidation.checkedOptions(
      options.decoderOptions, declared: decoder.kind.options, owner: "decoder '\(decoder.name)'")
    let tokenizer = try? model.tokenizer.get()
    let (prompt, gaps) = try promptTokens(request, model: model)
    if gaps != nil && !decoder.kind.fillsGaps {
      let fillers = decoders.filter { $0.value.kind.fillsGaps }.keys.sorted()
      throw ZooError.invalidArgument(
        "decoder '\(decoder.name)' only continues a prompt and cannot fill the gaps of a template (segments); "
          + (fillers.isEmpty ? "no loaded plugin has a decoder that fills gaps" : "use \(fillers.joined(separator: " or "))"))
    }
    let info = model.handle.info
    if let bad = prompt.first(where: { $0 < 0 || Int($0) >= info.vocabularySize }) {
      throw ZooError.invalidArgument(
        "prompt token id \(bad) is outside the vocabulary of '\(folder.name)' (0..<\(info.vocabularySize))")
    }
    if info.maxPositions > 0 && prompt.count >= info.maxPositions {
      throw ZooError.invalidArgument(
        "the prompt has \(prompt.count) tokens; '\(folder.name)' supports at most \(info.maxPositions) positions")
    }
    return PreparedGeneration(
      prompt: prompt, gaps: gaps, decoder: decoder, options: options, tokenizer: tokenizer, eosTokens: folder.eosTokens)
  }

  /// The prompt's ids from whichever of prompt, prompt_token_ids and segments the request
  /// gives, and for segments the gap flags (the one place a template is read).
  private func promptTokens(_ request: Zoo_V1_GenerateRequest, model: LoadedModel) throws -> ([Int32], [UInt8]?) {
    let given = [!request.prompt.isEmpty, !request.promptTokenIds.isEmpty, !request.segments.isEmpty, !request.messages.isEmpty]
    guard given.filter({ $0 }).count == 1 else {
      throw ZooError.invalidArgument(
        given.contains(true)
          ? "give one of prompt, prompt_token_ids, segments and messages, not several"
          : "the prompt is empty: set prompt (text), prompt_token_ids, segments (a template with gaps) or messages (a conversation)")
    }
    var text = request.prompt
    if !request.messages.isEmpty {
      guard let template = try model.folder.chatTemplate?.get() else {
        throw ZooError.failedPrecondition(
          "model '\(model.folder.name)' has no chat template (tokenizer_config.json \"chat_template\"), so it cannot take messages: send a prompt (text) instead")
      }
      do {
        text = try template.render(messages: request.messages.map { ($0.role, $0.content) })
      } catch {
        throw ZooError.invalidArgument("the chat template of '\(model.folder.name)' cannot render these messages: \(error)")
      }
    }
    if !text.isEmpty {
      let prompt = try model.tokenizer.get().encode(text)
      guard !prompt.isEmpty else { throw ZooError.invalidArgument("the prompt tokenizes to no tokens") }
      return (prompt, nil)
    }
    if request.segments.isEmpty { return (request.promptTokenIds, nil) }
    var prompt: [Int32] = []
    var gaps: [UInt8] = [0]
    for (k, segment) in request.segments.enumerated() {
      if !segment.text.isEmpty && !segment.tokenIds.isEmpty {
        throw ZooError.invalidArgument("segment \(k) has both text and token_ids; give one")
      }
      let tokens = segment.text.isEmpty ? segment.tokenIds : try model.tokenizer.get().encode(segment.text)
      if tokens.isEmpty && k > 0 && segment.gapAfter && request.segments[k - 1].gapAfter {
        throw ZooError.invalidArgument(
          "segments \(k - 1) and \(k) make two gaps in a row with nothing between them: use one gap (the decoder decides how many tokens each gap gets)")
      }
      prompt += tokens
      gaps += Array(repeating: 0, count: tokens.count)
      if segment.gapAfter { gaps[prompt.count] = 1 }
    }
    guard gaps.contains(1) else {
      throw ZooError.invalidArgument(
        prompt.isEmpty
          ? "the template is empty: give text and mark at least one gap (segments with gap_after)"
          : "the template has no gap to fill: set gap_after on the segment the decoder may insert after")
    }
    return (prompt, gaps)
  }
}
