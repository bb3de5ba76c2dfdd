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
  let decoder: ResolvedDecoder
  /// Every common option and every declared decoder option filled in.
  let options: Zoo_V1_GenerateOptions
  let tokenizer: (any Tokenizer)?
  let eosTokens: [Int32]
}

extension Runtime {
  /// The decoder `options` name (else the model's default), checked against the model
  /// from declared capabilities alone, before it runs: causality, mask token, heads,
  /// state copy and truncate. The one place a decoder name is resolved.
  func resolveDecoder(_ options: Zoo_V1_GenerateOptions, for model: LoadedModel) throws -> ResolvedDecoder {
    let name = options.decoder.isEmpty ? model.folder.defaultDecoder : options.decoder
    guard let (plugin, kind) = decoders[name] else {
      throw ZooError.invalidArgument(
        "unknown decoder '\(name.clipped())'; available: \(decoders.keys.sorted().joined(separator: ", "))")
    }
    if let missing = Self.missingCapability(of: model, for: kind) {
      throw ZooError.failedPrecondition(
        "decoder '\(name)' cannot run on model '\(model.folder.name)': the decoder needs \(missing)")
    }
    guard let api = plugin.decoderAPI(for: name) else {
      throw ZooError.unavailable("plugin '\(plugin.name)' declares decoder '\(name)' but gave no table for it")
    }
    return ResolvedDecoder(name: name, plugin: plugin, kind: kind, api: api)
  }

  /// What `kind` needs that `model` lacks, as a phrase, or nil when they fit.
  static func missingCapability(of model: LoadedModel, for kind: Zoo_V1_DecoderKind) -> String? {
    let info = model.handle.info
    let declared = model.plugin.manifest.modelTypes.first { $0.modelType == model.folder.modelType }?.capabilities
    switch kind.requires {
    case .causal where !info.maskKinds.contains(.causal):
      return "a causal model, and this one is bidirectional only"
    case .bidirectional where !info.maskKinds.contains(.bidirectional) && !info.maskKinds.contains(.blockCausal):
      return "a bidirectional model, and this one is causal only"
    default: break
    }
    if kind.requiresMaskToken && info.specialTokens.mask == nil {
      return "a mask token, and this model has none (config.json mask_token_id)"
    }
    if let head = kind.requiresHeads.first(where: { info.head(named: $0) == nil }) {
      return "an output head '\(head)', and this model has \(info.heads.isEmpty ? "none" : info.heads.map(\.name).joined(separator: ", "))"
    }
    if kind.requiresStateCopy && !(declared?.stateCopy ?? false) { return "a state that can be copied" }
    if kind.requiresStateTruncate && !(declared?.stateTruncate ?? false) { return "a state that can be truncated" }
    return nil
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
    let hasText = !request.prompt.isEmpty
    let hasIDs = !request.promptTokenIds.isEmpty
    guard hasText != hasIDs else {
      throw ZooError.invalidArgument(
        hasText ? "give either prompt or prompt_token_ids, not both" : "the prompt is empty: set prompt (text) or prompt_token_ids")
    }
    let tokenizer = try? model.tokenizer.get()
    var prompt = request.promptTokenIds
    if hasText {
      prompt = try model.tokenizer.get().encode(request.prompt)
      guard !prompt.isEmpty else { throw ZooError.invalidArgument("the prompt tokenizes to no tokens") }
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
      prompt: prompt, decoder: decoder, options: options, tokenizer: tokenizer, eosTokens: folder.eosTokens)
  }
}
