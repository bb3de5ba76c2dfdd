import Foundation
import ZooCore
import ZooABI
import ZooProto

/// An embedding request checked against its model: every text's ids, packed.
struct PreparedEmbedding: Sendable {
  /// All texts' ids, one after another.
  let tokens: [Int32]
  /// One length per text.
  let lengths: [Int64]
  let truncated: [Bool]
}

extension Runtime {
  static let maxEmbedTexts = 1024

  /// Tokenises the texts as the model's own stack does (special tokens added, cut at
  /// sentence-transformers' max_seq_length) and refuses what the model cannot embed.
  func prepareEmbedding(
    _ request: Zoo_V1_EmbedRequest, model: LoadedModel, request context: RequestContext? = nil
  ) throws -> PreparedEmbedding {
    let folder = model.folder
    guard model.handle.info.embeddingSize > 0 else {
      throw ZooError.failedPrecondition(
        "model '\(folder.name)' (\(folder.modelType), plugin '\(model.plugin.name)') does not produce embeddings; use an embedding model such as minilm (`zoo pull minilm`)")
    }
    guard !request.texts.isEmpty else { throw ZooError.invalidArgument("texts is empty: send at least one text to embed") }
    guard request.texts.count <= Self.maxEmbedTexts else {
      throw ZooError.invalidArgument("at most \(Self.maxEmbedTexts) texts per request; got \(request.texts.count): split the batch")
    }
    let tokenizer = try model.tokenizer.get()
    let positions = model.handle.info.maxPositions
    let maxTokens = folder.embeddingMaxTokens.map { positions > 0 ? min($0, positions) : $0 } ?? positions
    let truncate = !request.hasTruncate || request.truncate

    var tokens: [Int32] = []
    var lengths: [Int64] = []
    var truncated: [Bool] = []
    for (i, text) in request.texts.enumerated() {
      if context?.isCancelled == true { throw ZooError.cancelled("cancelled while tokenising") }
      var ids = Self.encodeForEmbedding(text, tokenizer: tokenizer, maxLength: nil)
      let cut = maxTokens > 0 && ids.count > maxTokens
      if cut {
        guard truncate else {
          throw ZooError.invalidArgument(
            "text \(i) is \(ids.count) tokens; model '\(folder.name)' reads at most \(maxTokens): shorten it or leave truncate unset")
        }
        ids = Self.encodeForEmbedding(text, tokenizer: tokenizer, maxLength: maxTokens)
      }
      guard !ids.isEmpty else { throw ZooError.invalidArgument("text \(i) gives no tokens with this model's tokenizer") }
      tokens += ids
      lengths.append(Int64(ids.count))
      truncated.append(cut)
    }
    return PreparedEmbedding(tokens: tokens, lengths: lengths, truncated: truncated)
  }

  /// Hugging Face tokenizers add their special tokens and truncate before them, as
  /// sentence-transformers feeds the model; other tokenizers keep the first ids.
  private static func encodeForEmbedding(_ text: String, tokenizer: any Tokenizer, maxLength: Int?) -> [Int32] {
    if let hf = tokenizer as? any HuggingFaceTokenizer {
      return hf.encode(text, addSpecialTokens: true, maxLength: maxLength)
    }
    let ids = tokenizer.encode(text)
    return maxLength.map { Array(ids.prefix($0)) } ?? ids
  }

  /// Tokens per embed call: a batch runs in calls of whole texts up to this many tokens,
  /// so a cancel or a passed deadline stops it within one call's time (a single layer
  /// over a 1024-text batch takes seconds). A GEMM of 1024 rows already runs at full
  /// speed, so throughput does not suffer.
  static let embedChunkTokens = 1024

  /// Runs the model's embed calls on their own thread (compute-bound, seconds for a large
  /// batch), off the async pool; checks the request between calls and the vectors after.
  func embed(_ prepared: PreparedEmbedding, model: LoadedModel, request: RequestContext) async throws -> Zoo_V1_EmbedResponse {
    let dimensions = model.handle.info.embeddingSize
    let start = ContinuousClock.now
    let name = model.folder.name
    let vectors: [Float] = try await withCheckedThrowingContinuation { continuation in
      Thread.detachNewThread {
        var out = [Float](repeating: 0, count: prepared.lengths.count * dimensions)
        do {
          var sequence = 0
          var token = 0
          while sequence < prepared.lengths.count {
            if request.isCancelled { throw PluginError.cancelled() }
            var end = sequence
            var tokens = 0
            while end < prepared.lengths.count && (end == sequence || tokens + Int(prepared.lengths[end]) <= Self.embedChunkTokens) {
              tokens += Int(prepared.lengths[end])
              end += 1
            }
            try prepared.tokens[token..<(token + tokens)].withUnsafeBufferPointer { chunk in
              try prepared.lengths[sequence..<end].withUnsafeBufferPointer { lengths in
                try out.withUnsafeMutableBufferPointer { out in
                  try model.handle.embed(
                    chunk, lengths: lengths, into: out.baseAddress! + sequence * dimensions, request: request.opaque)
                }
              }
            }
            (sequence, token) = (end, token + tokens)
          }
          if out.contains(where: \.isNaN) {
            throw PluginError.failedPrecondition(
              "the model computed NaN embeddings: its weights are not finite numbers; check the checkpoint")
          }
          continuation.resume(returning: out)
        } catch let error as PluginError {
          continuation.resume(throwing: ZooError.fromPlugin(
            Int32(truncatingIfNeeded: error.code.rawValue), error.message, context: "embedding with '\(name)'"))
        } catch {
          continuation.resume(throwing: ZooError.internalError("embedding with '\(name)' failed: \(error)"))
        }
      }
    }
    let seconds = (ContinuousClock.now - start).seconds
    return .with { response in
      response.dimensions = Int32(dimensions)
      response.totalTokens = Int32(prepared.tokens.count)
      response.seconds = seconds
      response.embeddings = prepared.lengths.indices.map { i in
        .with {
          $0.values = Array(vectors[(i * dimensions)..<((i + 1) * dimensions)])
          $0.tokens = Int32(prepared.lengths[i])
          $0.truncated = prepared.truncated[i]
        }
      }
    }
  }
}
