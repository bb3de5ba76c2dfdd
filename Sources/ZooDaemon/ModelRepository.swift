import Foundation
import Logging
import Synchronization
import ZooCore

#if canImport(Glibc)
import Glibc
#endif

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
  /// "q8": quantise the weight matrices to 8 bits at load. Without it they are kept as
  /// the checkpoint stores them (F32, F16 or BF16).
  var weights: String?

  enum CodingKeys: String, CodingKey {
    case description, tokenizer, license, weights
    case defaultDecoder = "default_decoder"
    case eosTokenIds = "eos_token_ids"
  }
}

/// One folder in the model repository, in the Hugging Face layout, as read from disk once:
/// serving it never reads these files again.
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
  /// Elements in all tensors, from the safetensors headers.
  public let parameters: UInt64
  public let eosTokens: [Int32]
  /// config.json "mask_token_id" (masked-diffusion models), if it is a token id.
  public let maskToken: Int32?
  /// How text becomes token ids: "bytes", "tokenizer.json", or "" (token ids only).
  let tokenizerKind: String
  /// sentence-transformers' `max_seq_length` (sentence_bert_config.json): the token
  /// count embeddings are cut to, which may differ from tokenizer.json's truncation.
  let embeddingMaxTokens: Int?
  /// tokenizer_config.json's chat template, for requests with `messages`; nil when it
  /// has none, the reason when zood cannot use it (the folder still serves prompts).
  let chatTemplate: Result<ChatTemplate, ZooError>?
  /// Why the folder cannot be served, whatever the plugins; nil when it can.
  public let problem: String?
  /// The files this folder was read from, as they were: it is read again when they change.
  let fingerprint: FolderFingerprint

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

  /// Reads a folder. Never throws: a broken folder comes back with `problem` set (the
  /// first thing found wrong), so it is listed with the reason instead of vanishing.
  /// Every file is read as `RegularFile` does (no FIFO, capped sizes), and every number
  /// it takes from a file is checked, so no folder can hang or crash zood.
  package init(path: String) {
    name = (path as NSString).lastPathComponent
    self.path = path
    // Taken before reading, so a file changed while it is read is read again next time.
    var stamped = FolderFingerprint(folder: path)
    var problem: String?
    func note(_ p: String) { if problem == nil { problem = p } }
    func read(_ file: String) -> Data? {
      do {
        return try RegularFile.contentsIfPresent(path + "/" + file, limit: Self.maxJSONBytes)
      } catch let failure as RegularFile.Failure {
        note("\(file) \(failure.reason)")
      } catch {
        note("\(file): \(error)")
      }
      return nil
    }

    let configData = read("config.json")
    configJSON = configData.map { String(decoding: $0, as: UTF8.self) } ?? ""
    var modelType = ""
    var eos: [Int32] = []
    var mask: Int32?
    if let configData {
      if let obj = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] {
        modelType = (obj["model_type"] as? String ?? "").lowercased()
        mask = tokenId(fromJSON: obj["mask_token_id"])
        if modelType.isEmpty { note("config.json has no \"model_type\"") }
        switch obj["eos_token_id"] {
        case nil, is NSNull: break
        case let value?:
          let list = value as? [Any] ?? [value]
          eos = list.compactMap { tokenId(fromJSON: $0) }
          if eos.count != list.count {
            eos = []
            note("config.json's eos_token_id \("\(value)".clipped()) is not a token id or a list of them (integers in 0...2147483647)")
          }
        }
      } else {
        note("config.json is not a JSON object")
      }
    } else {
      note("no config.json in the folder")
    }
    let zooData = read("zoo.json")
    zooJSON = zooData.map { String(decoding: $0, as: UTF8.self) } ?? ""
    var settings = ZooSettings()
    if let zooData {
      do {
        settings = try JSONDecoder().decode(ZooSettings.self, from: zooData)
      } catch {
        note("zoo.json is invalid: \(error)")
      }
    }
    if let t = settings.tokenizer, t != "bytes" {
      note("zoo.json names tokenizer '\(t.clipped())'; the only built-in one is \"bytes\"")
    }
    if let w = settings.weights, w != "q8" {
      note("zoo.json asks for weights '\(w.clipped())'; the only format it can ask for is \"q8\" (leave it out to keep the checkpoint's)")
    }
    var files: [String] = []
    do {
      files = try Self.weightFileNames(in: path, index: read("model.safetensors.index.json"))
    } catch {
      note("\(error)")
    }
    if files.isEmpty { note("no .safetensors weights in the folder") }
    weightFiles = files.map { path + "/" + $0 }
    stamped.add(weightFiles)
    // The headers are checked now (a read of a few kilobytes each), so a broken
    // checkpoint is listed as unavailable with its reason before anyone loads it.
    var sizeBytes: UInt64 = 0
    var parameters: UInt64 = 0
    for (name, file) in zip(files, weightFiles) {
      do {
        let header = try SafetensorsHeader(path: file)
        sizeBytes += UInt64(header.fileSize)
        parameters += header.entries.reduce(0) { $0 + UInt64($1.elementCount) }
      } catch let failure as RegularFile.Failure {
        note("\(name) \(failure.reason)")
      } catch let error as SafetensorsError {
        note("\(name) is not a usable safetensors file: \(error.tensor.map { "tensor '\($0.clipped())': " } ?? "")\(error.reason)")
      } catch {
        note("\(name): \(error)")
      }
    }
    self.sizeBytes = sizeBytes
    self.parameters = parameters
    if settings.tokenizer == "bytes" {
      tokenizerKind = "bytes"
    } else {
      tokenizerKind = FileManager.default.fileExists(atPath: path + "/tokenizer.json") ? "tokenizer.json" : ""
    }
    let sentenceConfig = read("sentence_bert_config.json").flatMap { try? JSONSerialization.jsonObject(with: $0) }
    embeddingMaxTokens = ((sentenceConfig as? [String: Any])?["max_seq_length"] as? Int).flatMap { $0 > 0 ? $0 : nil }
    let tokenizerConfig = read("tokenizer_config.json").flatMap { try? JSONSerialization.jsonObject(with: $0) }
    do {
      chatTemplate = try (tokenizerConfig as? [String: Any]).flatMap { try ChatTemplate(tokenizerConfig: $0) }.map { .success($0) }
    } catch {
      chatTemplate = .failure(.failedPrecondition(
        "the chat template of model '\(name)' (tokenizer_config.json) cannot be used: \(error); send a prompt instead"))
    }
    self.modelType = modelType
    self.settings = settings
    self.eosTokens = settings.eosTokenIds ?? eos
    self.maskToken = mask
    self.problem = problem
    self.fingerprint = stamped
  }

  /// The largest JSON file zood reads from a folder (config.json, zoo.json, the shard
  /// index): real ones are kilobytes.
  static let maxJSONBytes = 16 << 20

  /// The weight files as Hugging Face finds them: the shards named by
  /// model.safetensors.index.json, else model.safetensors, else every .safetensors file.
  /// A shard name must stay inside the folder.
  static func weightFileNames(in path: String, index: Data?) throws -> [String] {
    if let index {
      guard let obj = (try? JSONSerialization.jsonObject(with: index)) as? [String: Any],
        let map = obj["weight_map"] as? [String: String]
      else {
        throw ZooError.failedPrecondition(
          "model.safetensors.index.json has no \"weight_map\" object of tensor names to file names")
      }
      let shards = Set(map.values).sorted()
      if let outside = shards.first(where: { RegularFile.path($0, inside: path) == nil }) {
        throw ZooError.failedPrecondition(
          "model.safetensors.index.json names the file '\(outside.clipped())', which is not inside the model folder")
      }
      return shards
    }
    if FileManager.default.fileExists(atPath: path + "/model.safetensors") { return ["model.safetensors"] }
    return (try directoryEntries(path)).filter { $0.hasSuffix(".safetensors") }.sorted()
  }
}

/// The (device, inode, size, mtime) of the files a model folder is read from, and of the
/// folder itself (its mtime changes when a file is added, removed or renamed in). Equal
/// fingerprints mean nothing zood read has changed; computing one is a few stat calls.
struct FolderFingerprint: Equatable, Sendable {
  private var stamps: [String: FileStamp?]

  struct FileStamp: Equatable, Sendable {
    var device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
  }

  /// The files whose contents `ModelFolder` reads or depends on, besides the shards.
  static let files = [
    ".", "config.json", "zoo.json", "model.safetensors.index.json", "model.safetensors", "tokenizer.json",
    "sentence_bert_config.json", "modules.json",
  ]

  init(folder: String, weightFiles: [String] = []) {
    stamps = [:]
    for name in Self.files { stamps[name] = Self.stamp(folder + "/" + name) }
    add(weightFiles)
  }

  mutating func add(_ files: [String]) {
    for file in files { stamps[file] = Self.stamp(file) }
  }

  private static func stamp(_ path: String) -> FileStamp? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return FileStamp(
      device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size), seconds: st.st_mtim.tv_sec,
      nanoseconds: st.st_mtim.tv_nsec)
  }
}

extension ModelFolder {
  /// Whether the folder's files are as they were when it was read.
  var isUnchangedOnDisk: Bool { FolderFingerprint(folder: path, weightFiles: weightFiles) == fingerprint }
}

/// The names in a folder, or an error saying why they cannot be listed (out of file
/// descriptors, permissions), never an empty list in its place.
func directoryEntries(_ path: String) throws -> [String] {
  guard let dir = opendir(path) else {
    throw ZooError.unavailable("cannot read the folder \(path): \(String(cString: strerror(errno)))")
  }
  defer { closedir(dir) }
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    if name != "." && name != ".." { names.append(name) }
  }
  return names
}

/// The folders of model folders zood serves from (--models, repeatable). Folders are read
/// once and kept: a rescan (a listing, or a request for a name not seen yet) stats what it
/// knows and reads again only folders whose files changed, so a folder dropped in is served
/// without a restart, and serving a known model never rereads it.
public final class ModelRepository: Sendable {
  public let roots: [String]

  private struct State {
    var folders: [ModelFolder] = []
    /// root → why it could not be listed at the last scan.
    var unreadable: [String: String] = [:]
  }
  private let state = Mutex(State())
  private let logger: Logger

  public init(roots: [String], logger: Logger = Logger(label: "zood")) {
    self.roots = roots
    self.logger = logger
  }

  /// Every subfolder holding a config.json or safetensors files, read again where its
  /// files changed. When two roots hold the same name, the first root wins. A root that
  /// cannot be listed keeps the folders it had, and says why in `scanProblem`.
  @discardableResult
  public func scan() -> [ModelFolder] {
    let previous = state.withLock { $0.folders }
    let known = Dictionary(previous.map { ($0.path, $0) }) { first, _ in first }
    var seen = Set<String>()
    var out: [ModelFolder] = []
    var unreadable: [String: String] = [:]
    for root in roots {
      let entries: [String]
      do {
        entries = try directoryEntries(root).sorted()
      } catch {
        unreadable[root] = "\(error)"
        for folder in previous where (folder.path as NSString).deletingLastPathComponent == root {
          if seen.insert(folder.name).inserted { out.append(folder) }
        }
        continue
      }
      for entry in entries where !entry.hasPrefix(".") {
        let path = (root as NSString).appendingPathComponent(entry)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue, !seen.contains(entry)
        else { continue }
        if let folder = known[path], folder.isUnchangedOnDisk {
          seen.insert(entry)
          out.append(folder)
          continue
        }
        guard let items = try? directoryEntries(path),
          items.contains("config.json") || items.contains(where: { $0.hasSuffix(".safetensors") })
        else { continue }
        seen.insert(entry)
        out.append(ModelFolder(path: path))
      }
    }
    state.withLock {
      $0.folders = out
      $0.unreadable = unreadable
    }
    let reread = out.count { folder in known[folder.path].map { $0.fingerprint != folder.fingerprint } ?? true }
    logger.debug("scanned the models folders: \(out.count) models, \(reread) read from disk")
    for (root, problem) in unreadable { logger.warning("cannot list models folder \(root): \(problem)") }
    return out
  }

  /// The folder named `name`: the one already read if its files have not changed, else
  /// read again; a name not seen yet rescans the roots.
  public func find(_ name: String) -> ModelFolder? {
    if let folder = state.withLock({ state in state.folders.first { $0.name == name } }), folder.isUnchangedOnDisk {
      return folder
    }
    return scan().first { $0.name == name }
  }

  /// Why a models folder could not be listed at the last scan (out of file descriptors,
  /// permissions), or nil when every one could.
  public var scanProblem: String? {
    state.withLock { s in s.unreadable.isEmpty ? nil : s.unreadable.values.sorted().joined(separator: "; ") }
  }
}
