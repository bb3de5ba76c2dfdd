import Foundation
import SwiftProtobuf
import ZooCore
import ZooDaemon
import ZooPluginKit
import ZooProto

import Autoregressive
import Diffusion
import GAM
import Insertion
import Orchid
import Sessa
import StateSpace
import ToolGate
import Transformer

/// The fuzz targets: each takes one input and must return without crashing, whatever the
/// bytes. Refusals (thrown errors, problems) are the expected outcome for most inputs.
enum FuzzTarget: String, CaseIterable {
  case safetensors, tokenizer, config, zoojson, manifest
  case generateRequest = "generate-request"
  case embedRequest = "embed-request"

  func run(_ data: Data) {
    switch self {
    case .safetensors: Self.safetensors(data)
    case .tokenizer: Self.tokenizer(data)
    case .config: Self.config(data)
    case .zoojson: Self.zooJSON(data)
    case .manifest: Self.manifest(data)
    case .generateRequest: Self.generateRequest(data)
    case .embedRequest: Self.embedRequest(data)
    }
  }

  // MARK: Scratch files (parsers that only read paths get one file or folder per process)

  static let scratch: String = {
    let dir = NSTemporaryDirectory() + "zoo-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: FuzzTarget.scratch) }
    return dir
  }()

  static func write(_ data: Data, to name: String) -> String {
    let path = scratch + "/" + name
    guard FileManager.default.createFile(atPath: path, contents: data) else {
      fatalError("zoo-fuzz: cannot write \(path)")
    }
    return path
  }

  // MARK: safetensors: header, tensor table, and the tensors as a plugin reads them

  static func safetensors(_ data: Data) {
    let path = write(data, to: "input.safetensors")
    guard let header = try? SafetensorsHeader(path: path) else { return }
    for e in header.entries {
      precondition(e.range.upperBound <= header.fileSize - header.dataStart, "entry past the data section")
      precondition(e.range.count == e.elementCount * e.dtype.byteSize, "entry size does not match its shape")
    }
    guard let file = try? SafetensorsFile(path: path) else { return }
    var sum = 0
    for name in file.names {
      guard let t = file.tensors[name] else { preconditionFailure("name without a tensor") }
      // Convert small tensors only: a valid 100 MB tensor is not a bug.
      guard t.byteCount <= 1 << 16 else { continue }
      sum &+= t.floats()?.count ?? 0
      sum &+= t.int64s()?.count ?? 0
    }
    let weights = Weights(file)
    for name in weights.names.sorted().prefix(8) {
      if let w = try? weights.tensor(name), w.count <= 1 << 14 { sum &+= w.buffer.count }
    }
    blackHole(sum)
  }

  // MARK: tokenizer.json: load, then encode a fixed text and one taken from the input

  static let fixedText = "Hello, world! The café's naïve résumé — 東京 🦙 \t\n  don't   <mask> [CLS] 1234.5"

  static func tokenizer(_ data: Data) {
    guard let tok = try? loadTokenizer(jsonData: data) else { return }
    let vocab = tok.vocabularySize
    // A text from the input: its first bytes as UTF-8, and some of the vocabulary's own tokens.
    var derived = String(decoding: data.prefix(200), as: UTF8.self)
    var h = data.count
    for (i, b) in data.prefix(16).enumerated() { h = h &* 31 &+ Int(b) &+ i }
    for k in 0..<8 where vocab > 0 {
      if let t = tok.token(of: Int32(truncatingIfNeeded: abs((h &+ k &* 7919) % vocab))) { derived += t + (k % 2 == 0 ? " " : "") }
    }
    for text in [fixedText, derived, ""] {
      for ids in [tok.encode(text), tok.encode(text, addSpecialTokens: false, maxLength: 8)] {
        for id in ids {
          precondition(id >= 0 && Int(id) < vocab, "encode gave id \(id) outside the vocabulary of \(vocab)")
          _ = tok.bytes(of: id)
          _ = tok.token(of: id)
        }
        _ = tok.decode(ids, skipSpecialTokens: true)
        _ = tok.decode(ids, skipSpecialTokens: false)
      }
    }
    for id: Int32 in [-1, 0, Int32(clamping: vocab), Int32.max] { _ = tok.bytes(of: id); _ = tok.token(of: id) }
  }

  // MARK: config.json: every plugin's model builders (config decode + validate), and zood's own read

  static let noWeights: Weights = {
    // A valid safetensors file with no tensors: builders fail at their first weight.
    var bytes = Data()
    let header = Data(#"{"__metadata__":{"format":"pt"}}"#.utf8)
    var n = UInt64(header.count).littleEndian
    withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
    bytes.append(header)
    let path = write(bytes, to: "empty.safetensors")
    do { return Weights(try SafetensorsFile(path: path)) } catch { fatalError("zoo-fuzz: \(error)") }
  }()

  static let builders: [any ModelBuilder.Type] =
    [stateSpacePlugin, transformerPlugin, sessaPlugin, GAMPlugin.definition, orchidPlugin].flatMap(\.models)

  static func config(_ data: Data) {
    for builder in builders {
      let context = ModelLoadContext(
        modelType: builder.declaration.modelType, configJSON: data, folder: scratch + "/none", weights: noWeights)
      _ = try? builder.load(context)
    }
    let folder = scratch + "/config-folder"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    _ = write(data, to: "config-folder/config.json")
    blackHole(ModelFolder(path: folder).problem?.count ?? 0)
  }

  // MARK: zoo.json: read as zood reads a model folder

  static let zooFolder: String = {
    let folder = scratch + "/zoo-folder"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    _ = write(Data(#"{"model_type": "mamba", "eos_token_id": 0}"#.utf8), to: "zoo-folder/config.json")
    return folder
  }()

  static func zooJSON(_ data: Data) {
    let folder = zooFolder
    _ = write(data, to: "zoo-folder/zoo.json")
    let m = ModelFolder(path: folder)
    blackHole(m.eosTokens.count + (m.problem?.count ?? 0))
  }

  // MARK: protobuf messages

  static func manifest(_ data: Data) {
    guard let m = try? Zoo_V1_PluginManifest(serializedBytes: data) else { return }
    for (major, minor): (UInt16, UInt16) in [(1, 5), (1, 3)] {
      blackHole(ManifestValidator.problems(in: m, tableMajor: major, tableMinor: minor).count)
    }
  }

  /// Every decoder and middleware a bundled plugin declares, as zood would see them.
  static let decoderKinds: [Zoo_V1_DecoderKind] =
    [autoregressivePlugin, diffusionPlugin, insertionPlugin].flatMap { $0.decoders.map { $0.declaration } }
  static let middlewareKinds: [Zoo_V1_MiddlewareKind] = toolGatePlugin.middleware.map { $0.declaration }

  static func generateRequest(_ data: Data) {
    guard let request = try? Zoo_V1_GenerateRequest(serializedBytes: data) else { return }
    do {
      try RequestValidation.checkSize(request)
      let o = try RequestValidation.validate(request.options)
      precondition((1...65536).contains(o.maxTokens), "max_tokens \(o.maxTokens) passed validation")
      precondition(o.temperature >= 0 && o.temperature <= 100, "temperature \(o.temperature) passed validation")
      precondition(o.topK >= 0 && o.topP > 0 && o.topP <= 1, "top_k/top_p passed validation")
      for kind in decoderKinds {
        _ = try? RequestValidation.checkedOptions(o.decoderOptions, declared: kind.options, owner: "decoder '\(kind.name)'")
      }
      for w in request.middleware {
        for kind in middlewareKinds {
          _ = try? RequestValidation.checkedOptions(w.options, declared: kind.config, owner: "middleware '\(kind.name)'")
        }
      }
    } catch {
      blackHole("\(error)".count)
    }
  }

  static func embedRequest(_ data: Data) {
    guard let request = try? Zoo_V1_EmbedRequest(serializedBytes: data) else { return }
    do { try RequestValidation.checkSize(request) } catch { blackHole("\(error)".count) }
  }
}

@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
