import Foundation
import ZooCore
import ZooPluginKit

/// How a sentence-transformers folder turns token states into one vector: its Pooling
/// module and an optional Normalize module, as listed in `modules.json`.
///
/// Follows sentence-transformers 6.2.0 (`Pooling`, `Normalize`): the pooled vectors of
/// every mode, concatenated in the config's order; Normalize divides by the L2 norm
/// (F.normalize, eps 1e-12). Sequences arrive unpadded, so the attention mask is all
/// ones and every mode reduces over the sequence's own rows.
struct SentencePooling: Sendable {
  enum Mode: String, Sendable, CaseIterable {
    /// The first token's state ([CLS]).
    case cls
    /// Per-dimension maximum over tokens.
    case max
    /// Mean over tokens.
    case mean
    /// Sum over tokens / √length.
    case meanSqrtLen = "mean_sqrt_len_tokens"
    /// Σ (i+1)·h_i / Σ (i+1), positions counted from 1.
    case weightedMean = "weightedmean"
    /// The last token's state.
    case lastToken = "lasttoken"

    /// The legacy boolean key of this mode in Pooling's config.json.
    var legacyKey: String {
      switch self {
      case .cls: "pooling_mode_cls_token"
      case .max: "pooling_mode_max_tokens"
      case .mean: "pooling_mode_mean_tokens"
      case .meanSqrtLen: "pooling_mode_mean_sqrt_len_tokens"
      case .weightedMean: "pooling_mode_weightedmean_tokens"
      case .lastToken: "pooling_mode_lasttoken"
      }
    }
  }

  let modes: [Mode]
  let normalize: Bool
  /// Width of one token state (hidden_size).
  let width: Int

  var embeddingSize: Int { modes.count * width }

  /// The largest modules.json or Pooling config zoo reads: real ones are a few hundred bytes.
  static let maxJSONBytes = 1 << 20

  /// Reads `modules.json` and the Pooling module's `config.json` in `folder`; nil when
  /// the folder has no modules.json (not a sentence-transformers folder). Refuses module
  /// types and pooling modes zoo does not implement, naming them.
  static func load(folder: String, hiddenSize: Int) throws -> SentencePooling? {
    let modulesPath = folder + "/modules.json"
    let data: Data
    do {
      guard let contents = try RegularFile.contentsIfPresent(modulesPath, limit: maxJSONBytes) else { return nil }
      data = contents
    } catch {
      throw PluginError.invalidArgument("\(error)")
    }
    struct Module: Decodable {
      var type: String
      var path: String?
    }
    let modules: [Module]
    do {
      modules = try JSONDecoder().decode([Module].self, from: data)
    } catch {
      throw PluginError.invalidArgument("modules.json is not a list of modules with a \"type\": \(error)")
    }
    // Types are Python class paths; the class name decides (older and newer
    // sentence-transformers spell the module path differently).
    let kinds = modules.map { $0.type.split(separator: ".").last.map(String.init) ?? $0.type }
    for (module, kind) in zip(modules, kinds) where !["Transformer", "Pooling", "Normalize"].contains(kind) {
      throw PluginError.invalidArgument(
        "modules.json lists \(module.type); zoo implements only Transformer, Pooling and Normalize modules")
    }
    guard kinds.first == "Transformer", let poolingIndex = kinds.firstIndex(of: "Pooling"),
      kinds.filter({ $0 == "Pooling" }).count == 1, kinds.filter({ $0 == "Transformer" }).count == 1
    else {
      throw PluginError.invalidArgument(
        "modules.json must list the Transformer, then one Pooling module (then optionally Normalize); it lists \(kinds)")
    }
    if let normalizeIndex = kinds.firstIndex(of: "Normalize"), normalizeIndex < poolingIndex {
      throw PluginError.invalidArgument("modules.json puts Normalize before Pooling; zoo pools first")
    }
    var poolingFolder = folder
    if let path = modules[poolingIndex].path, !path.isEmpty {
      guard let inside = RegularFile.path(path, inside: folder) else {
        throw PluginError.invalidArgument(
          "modules.json puts the Pooling module at '\(path.clipped())', which is not inside the model folder")
      }
      poolingFolder = inside
    }
    let configPath = poolingFolder + "/config.json"
    guard let configData = try? RegularFile.contents(configPath, limit: maxJSONBytes),
      let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any]
    else {
      throw PluginError.notFound("the Pooling module's config \(configPath) is missing, not a regular file, or not a JSON object")
    }
    let modes = try parseModes(config)
    let dimension = (config["embedding_dimension"] ?? config["word_embedding_dimension"]) as? Int ?? hiddenSize
    guard dimension == hiddenSize else {
      throw PluginError.invalidArgument(
        "\(configPath) pools vectors of \(dimension) dimensions but the model's hidden_size is \(hiddenSize)")
    }
    return SentencePooling(modes: modes, normalize: kinds.contains("Normalize"), width: hiddenSize)
  }

  /// `pooling_mode` (a name or a list of names), else the legacy `pooling_mode_*`
  /// booleans in sentence-transformers' order, else mean (its default).
  static func parseModes(_ config: [String: Any]) throws -> [Mode] {
    func mode(_ name: String) throws -> Mode {
      guard let m = Mode(rawValue: name) else {
        throw PluginError.invalidArgument(
          "pooling mode '\(name)' is not implemented; zoo knows \(Mode.allCases.map(\.rawValue))")
      }
      return m
    }
    if let name = config["pooling_mode"] as? String { return [try mode(name)] }
    if let names = config["pooling_mode"] as? [String], !names.isEmpty { return try names.map(mode) }
    let known = Set(Mode.allCases.map(\.legacyKey))
    for (key, value) in config where key.hasPrefix("pooling_mode_") && !known.contains(key) && (value as? Bool) == true {
      throw PluginError.invalidArgument("pooling option '\(key)' is not implemented")
    }
    let active = Mode.allCases.filter { config[$0.legacyKey] as? Bool == true }
    return active.isEmpty ? [.mean] : active
  }

  /// Pools the `count` token states at `rows` [count, width] into `out` [embeddingSize].
  func pool(_ rows: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
    let w = width
    for (slot, m) in modes.enumerated() {
      let dst = out + slot * w
      switch m {
      case .cls:
        dst.update(from: rows, count: w)
      case .lastToken:
        dst.update(from: rows + (count - 1) * w, count: w)
      case .max:
        dst.update(from: rows, count: w)
        for r in 1..<max(count, 1) {
          let row = rows + r * w
          for i in 0..<w { dst[i] = Swift.max(dst[i], row[i]) }
        }
      case .mean, .meanSqrtLen, .weightedMean:
        dst.update(repeating: 0, count: w)
        var total: Float = 0
        for r in 0..<count {
          let weight: Float = m == .weightedMean ? Float(r + 1) : 1
          total += weight
          let row = rows + r * w
          for i in 0..<w { dst[i] += weight * row[i] }
        }
        Kernels.scale(dst, count: w, by: 1 / (m == .meanSqrtLen ? total.squareRoot() : total))
      }
    }
    if normalize { Kernels.l2Normalize(out, count: embeddingSize) }
  }
}
