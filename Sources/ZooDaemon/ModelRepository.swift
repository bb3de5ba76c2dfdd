import Foundation
import ZooCore

/// zoo.json: zoo-specific settings beside a model's config.json. All optional.
struct ZooSettings: Codable, Sendable {
  var description: String?
  /// "bytes" for a byte tokenizer. Without it, a folder with no tokenizer.json takes
  /// prompts as token ids only.
  var tokenizer: String?
  var defaultDecoder: String?
  var license: String?
  /// Overrides config.json's eos_token_id.
  var eosTokenIds: [Int32]?

  enum CodingKeys: String, CodingKey {
    case description, tokenizer, license
    case defaultDecoder = "default_decoder"
    case eosTokenIds = "eos_token_ids"
  }
}

/// One folder in the model repository, in the Hugging Face layout.
public struct ModelFolder: Sendable {
  /// The folder's name; requests name models by it.
  public let name: String
  public let path: String
  /// config.json "model_type"; empty when config.json is missing or broken.
  public let modelType: String
  public let configJSON: String
  let settings: ZooSettings
  let zooJSON: String
  /// The safetensors files holding the weights, in name order.
  public let weightFiles: [String]
  public let sizeBytes: UInt64
  public let eosTokens: [Int32]
  /// Why the folder cannot be served, whatever the plugins; nil when it can.
  public let problem: String?

  public var defaultDecoder: String { settings.defaultDecoder ?? "ar" }

  /// sentence-transformers' `max_seq_length` (sentence_bert_config.json): the token
  /// count embeddings are cut to, which may differ from tokenizer.json's truncation.
  var embeddingMaxTokens: Int? {
    guard let data = FileManager.default.contents(atPath: path + "/sentence_bert_config.json"),
      let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { return nil }
    return (obj["max_seq_length"] as? Int).flatMap { $0 > 0 ? $0 : nil }
  }

  /// How text becomes token ids: "bytes", "tokenizer.json", or "" (token ids only).
  var tokenizerKind: String {
    if settings.tokenizer == "bytes" { return "bytes" }
    return FileManager.default.fileExists(atPath: path + "/tokenizer.json") ? "tokenizer.json" : ""
  }

  /// The tokenizer for text prompts, or the FAILED_PRECONDITION sentence saying why there
  /// is none. Read once, when the model loads.
  func loadTokenizer() -> Result<any Tokenizer, ZooError> {
    switch tokenizerKind {
    case "bytes":
      return .success(ByteTokenizer())
    case "tokenizer.json":
      do {
        return .success(try ZooCore.loadTokenizer(path: path + "/tokenizer.json"))
      } catch {
        return .failure(.failedPrecondition(
          "model '\(name)' has a tokenizer.json zoo cannot use exactly: \(error); send prompt_token_ids instead"))
      }
    default:
      return .failure(.failedPrecondition(
        "model '\(name)' has no tokenizer (no tokenizer.json, and zoo.json does not say \"tokenizer\": \"bytes\"); send prompt_token_ids instead"))
    }
  }

  /// Reads a folder. Never throws: a broken folder comes back with `problem` set, so
  /// it is listed with the reason instead of vanishing.
  init(path: String) {
    let fm = FileManager.default
    name = (path as NSString).lastPathComponent
    self.path = path
    var problem: String?
    let configData = fm.contents(atPath: path + "/config.json")
    configJSON = configData.map { String(decoding: $0, as: UTF8.self) } ?? ""
    var modelType = ""
    var eos: [Int32] = []
    if let configData {
      if let obj = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] {
        modelType = obj["model_type"] as? String ?? ""
        if modelType.isEmpty { problem = "config.json has no \"model_type\"" }
        if let one = obj["eos_token_id"] as? Int {
          eos = [Int32(one)]
        } else if let many = obj["eos_token_id"] as? [Int] {
          eos = many.map(Int32.init)
        }
      } else {
        problem = "config.json is not a JSON object"
      }
    } else {
      problem = "no config.json in the folder"
    }
    let zooData = fm.contents(atPath: path + "/zoo.json")
    zooJSON = zooData.map { String(decoding: $0, as: UTF8.self) } ?? ""
    var settings = ZooSettings()
    if let zooData {
      do {
        settings = try JSONDecoder().decode(ZooSettings.self, from: zooData)
      } catch {
        problem = problem ?? "zoo.json is invalid: \(error)"
      }
    }
    if let t = settings.tokenizer, t != "bytes" {
      problem = problem ?? "zoo.json names tokenizer '\(t)'; the only built-in one is \"bytes\""
    }
    let files = Self.weightFileNames(in: path)
    if files.isEmpty && problem == nil { problem = "no .safetensors weights in the folder" }
    weightFiles = files.map { path + "/" + $0 }
    sizeBytes = weightFiles.reduce(0) { acc, f in
      acc + ((try? fm.attributesOfItem(atPath: f)[.size] as? NSNumber)?.uint64Value ?? 0)
    }
    self.modelType = modelType
    self.settings = settings
    self.eosTokens = settings.eosTokenIds ?? eos
    self.problem = problem
  }
}

extension ModelFolder {
  /// The weight files as Hugging Face finds them: the shards named by
  /// model.safetensors.index.json, else model.safetensors, else every .safetensors file.
  static func weightFileNames(in path: String) -> [String] {
    let fm = FileManager.default
    if let index = fm.contents(atPath: path + "/model.safetensors.index.json"),
      let obj = (try? JSONSerialization.jsonObject(with: index)) as? [String: Any],
      let map = obj["weight_map"] as? [String: String]
    {
      return Set(map.values).sorted()
    }
    if fm.fileExists(atPath: path + "/model.safetensors") { return ["model.safetensors"] }
    return ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
  }
}

/// The folders of model folders zood serves from (--models, repeatable). Scanned at
/// start and on every listing, so a folder dropped in is served without a restart.
public struct ModelRepository: Sendable {
  public let roots: [String]

  public init(roots: [String]) { self.roots = roots }

  /// Every subfolder holding a config.json or safetensors files. When two roots hold the
  /// same name, the first root wins.
  public func scan() -> [ModelFolder] {
    let fm = FileManager.default
    var seen = Set<String>()
    var out: [ModelFolder] = []
    for root in roots {
      for entry in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted() where !entry.hasPrefix(".") {
        let path = (root as NSString).appendingPathComponent(entry)
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue, !seen.contains(entry) else { continue }
        let items = (try? fm.contentsOfDirectory(atPath: path)) ?? []
        guard items.contains("config.json") || items.contains(where: { $0.hasSuffix(".safetensors") }) else { continue }
        seen.insert(entry)
        out.append(ModelFolder(path: path))
      }
    }
    return out
  }

  public func find(_ name: String) -> ModelFolder? { scan().first { $0.name == name } }
}
