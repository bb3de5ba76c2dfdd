import CZooPlugin
import Foundation
import ZooProto

/// One forward call's input: new tokens of one sequence, appended to its state.
public struct ForwardInput {
  /// The tokens' ids.
  public var tokens: UnsafeBufferPointer<Int32>
  /// Explicit positions, or nil for state.length ..< state.length + tokens.count.
  public var positions: UnsafeBufferPointer<Int64>?
  /// How the call's positions see each other.
  public var mask: MaskKind
  /// Block length for `.blockCausal`.
  public var blockSize: Int
  /// Positions every token attends to instead of what the mask allows (ABI 1.3), or nil.
  /// Only passed to models whose info accepts them, with the bidirectional mask.
  public var keyPositions: UnsafeBufferPointer<Int64>?
  /// Rows of `tokens` whose logits are wanted, or nil for all.
  public var logitRows: UnsafeBufferPointer<Int64>?
  /// The index (into `ModelInfo.heads`) of a head whose output is wanted for the same
  /// rows, written to `ForwardOutput.head`; nil for none.
  public var head: Int?
  /// Polled during long prefills; true once the request is cancelled.
  public var isCancelled: () -> Bool

  /// One call's input; see each property.
  public init(
    tokens: UnsafeBufferPointer<Int32>, positions: UnsafeBufferPointer<Int64>? = nil, mask: MaskKind = .causal,
    blockSize: Int = 0, keyPositions: UnsafeBufferPointer<Int64>? = nil, logitRows: UnsafeBufferPointer<Int64>? = nil,
    head: Int? = nil, isCancelled: @escaping () -> Bool = { false }
  ) {
    self.tokens = tokens
    self.positions = positions
    self.mask = mask
    self.blockSize = blockSize
    self.keyPositions = keyPositions
    self.logitRows = logitRows
    self.head = head
    self.isCancelled = isCancelled
  }

  /// Number of logit rows the caller expects.
  public var logitRowCount: Int { logitRows?.count ?? tokens.count }
}

/// Caller-owned output buffers of a forward call.
public struct ForwardOutput {
  /// logitRowCount × vocabularySize floats, or nil.
  public var logits: UnsafeMutablePointer<Float>?
  /// tokens.count × hiddenSize floats (after the final norm), or nil.
  public var hidden: UnsafeMutablePointer<Float>?
  /// logitRowCount × the head's width floats, when `ForwardInput.head` is set.
  public var head: UnsafeMutablePointer<Float>?

  /// Output buffers; nil ones are not written.
  public init(
    logits: UnsafeMutablePointer<Float>? = nil, hidden: UnsafeMutablePointer<Float>? = nil,
    head: UnsafeMutablePointer<Float>? = nil
  ) {
    self.logits = logits
    self.hidden = hidden
    self.head = head
  }
}

/// Per-sequence state: a recurrent state, a KV cache, or both.
public protocol ModelState: AnyObject {
  /// Tokens consumed so far.
  var length: Int { get }
  /// A deep copy. Throw PluginError.failedPrecondition if the model cannot copy.
  func copy() throws -> any ModelState
  /// Forget everything after the first `length` tokens.
  func truncate(to length: Int) throws
}

extension ModelState {
  /// Refuses: states copy only when the model says how.
  public func copy() throws -> any ModelState {
    throw PluginError.failedPrecondition("this model's state cannot be copied")
  }
  /// Refuses: a recurrent state summarises its whole prefix.
  public func truncate(to length: Int) throws {
    throw PluginError.failedPrecondition(
      "this model's state is recurrent and cannot be truncated; re-run the prefix instead")
  }
}

/// A loaded model. Weights are read-only after load; `forward` may run concurrently on
/// distinct states.
public protocol Model: AnyObject, Sendable {
  var info: ModelInfo { get }
  func makeState() throws -> any ModelState
  func forward(_ input: ForwardInput, state: any ModelState, output: ForwardOutput) throws
}

/// A model that advances several sequences by one token each in one pass
/// (zoo_model_api.forward_batch, ABI 1.6): the decode step of concurrent requests, so
/// each weight matrix is read once for all of them. The SDK sets `batches_steps` in the
/// model's info for every model of this kind.
public protocol BatchedStepModel: Model {
  /// Appends `tokens[i]` to `states[i]` for every i and writes that sequence's
  /// next-token logits to row i of `logits` (tokens.count × vocabularySize): what
  /// `forward` would give each state alone with one token, the causal mask and its
  /// logits, up to the rounding of the matrix kernels. The states are distinct. Check
  /// everything that can be refused before touching any state.
  func step(_ tokens: UnsafeBufferPointer<Int32>, states: [any ModelState], logits: UnsafeMutablePointer<Float>) throws
  /// False for a model of a batching type that has no decode step to batch (one
  /// trained only for a bidirectional mask); true by default.
  var batchesSteps: Bool { get }
}

extension BatchedStepModel {
  /// Every model of a batching type batches its steps.
  public var batchesSteps: Bool { true }
}

/// A batch of independent sequences to embed, packed one after another.
public struct EmbeddingBatch {
  /// Every sequence's ids, concatenated.
  public var tokens: UnsafeBufferPointer<Int32>
  /// One length per sequence, each >= 1, summing to tokens.count.
  public var lengths: UnsafeBufferPointer<Int64>
  /// Polled between sequences or layers; true once the request is cancelled.
  public var isCancelled: () -> Bool

  /// A batch over `tokens` cut by `lengths`.
  public init(
    tokens: UnsafeBufferPointer<Int32>, lengths: UnsafeBufferPointer<Int64>, isCancelled: @escaping () -> Bool = { false }
  ) {
    self.tokens = tokens
    self.lengths = lengths
    self.isCancelled = isCancelled
  }
}

/// A model that turns whole sequences into single vectors (sentence embeddings).
/// `info.embeddingSize` must be the vector length.
public protocol EmbeddingModel: Model {
  /// Writes lengths.count × info.embeddingSize floats to `embeddings`.
  func embed(_ batch: EmbeddingBatch, into embeddings: UnsafeMutablePointer<Float>) throws
}

/// Everything a model builder gets: the folder's config.json, its weights, the host.
public struct ModelLoadContext: @unchecked Sendable {
  /// config.json's "model_type".
  public let modelType: String
  /// The whole config.json.
  public let configJSON: Data
  /// Absolute path of the model folder, for extra files (tokenizer, pooling config).
  public let folder: String
  /// Every tensor of the folder's safetensors files.
  public let weights: Weights

  /// A context over a folder's parts (zood builds it; tests build their own).
  public init(modelType: String, configJSON: Data, folder: String, weights: Weights) {
    self.modelType = modelType
    self.configJSON = configJSON
    self.folder = folder
    self.weights = weights
  }

  /// config.json decoded into the builder's config struct and validated once, here, as
  /// mlx-swift-lm's LLMModelFactory validates a config before any weight is read: a
  /// decoding failure names the key, and `validate()` refuses what the model cannot run.
  public func config<C: ModelConfiguration>(_ type: C.Type) throws -> C {
    let config = try decodedConfig(C.self)
    try config.validate()
    return config
  }

  /// config.json decoded into `C`; a decoding failure names the key.
  private func decodedConfig<C: Decodable>(_ type: C.Type) throws -> C {
    do {
      return try JSONDecoder().decode(C.self, from: configJSON)
    } catch let DecodingError.keyNotFound(key, _) {
      throw PluginError.invalidArgument("config.json lacks required key '\(key.stringValue)' for \(modelType)")
    } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
      let path = ctx.codingPath.map(\.stringValue).joined(separator: ".")
      throw PluginError.invalidArgument("config.json key '\(path)' has the wrong type: \(ctx.debugDescription)")
    } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
      let path = ctx.codingPath.map(\.stringValue).joined(separator: ".")
      throw PluginError.invalidArgument("config.json key '\(path)' has a value it cannot hold: \(ctx.debugDescription)")
    } catch let DecodingError.dataCorrupted(ctx) {
      if let key = misfitNumberKey(C.self) {
        throw PluginError.invalidArgument("config.json key '\(key.name)' is \(key.value), which its field cannot hold (it takes an integer)")
      }
      throw PluginError.invalidArgument("config.json is not valid JSON: \(ctx.debugDescription)")
    } catch {
      throw PluginError.invalidArgument("config.json is not valid JSON: \(error)")
    }
  }
}

extension ModelLoadContext {
  /// The top-level key whose number stopped `C` from decoding, when one did: Foundation's
  /// JSONDecoder on Linux reports a number that does not fit an integer field (256.5,
  /// 1e30) as "not valid JSON" with no key, so each key holding a number that is not an
  /// exact Int is tried with an integer in its place.
  fileprivate func misfitNumberKey<C: Decodable>(_ type: C.Type) -> (name: String, value: String)? {
    guard var object = (try? JSONSerialization.jsonObject(with: configJSON)) as? [String: Any] else { return nil }
    let candidates = object.compactMap { key, value -> (String, NSNumber)? in
      guard let number = value as? NSNumber, Int(exactly: number.doubleValue) == nil else { return nil }
      return (key, number)
    }
    for (key, number) in candidates.sorted(by: { $0.0 < $1.0 }) {
      object[key] = 1
      defer { object[key] = number }
      guard let data = try? JSONSerialization.data(withJSONObject: object) else { continue }
      do {
        _ = try JSONDecoder().decode(C.self, from: data)
        return (key, "\(number)")
      } catch DecodingError.dataCorrupted(let ctx) where ctx.codingPath.isEmpty {
        continue  // still a misfit elsewhere
      } catch {
        return (key, "\(number)")
      }
    }
    return nil
  }
}

/// Builds one model type from a Hugging Face style folder (registered by model_type,
/// as mlx-swift-lm's model registry does).
public protocol ModelBuilder {
  /// The manifest entry: model_type, layers, capabilities, config fields, weights.
  static var declaration: Zoo_V1_ModelType { get }
  static func load(_ context: ModelLoadContext) throws -> any Model
}
