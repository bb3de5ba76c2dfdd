import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import XCTest
import ZooProto
import ZooRPC

/// Paths of the package and its build products, found from the test binary's location
/// (.build/<triple>/<config>/zooPackageTests.xctest).
enum Paths {
  static let buildDirectory: URL = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("zood").path) {
      url.deleteLastPathComponent()
    }
    return url
  }()

  static let packageRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// all-MiniLM-L6-v2 as `zoo pull minilm` installs it: $ZOO_MINILM_MODEL (scripts/test
  /// sets it), else ~/.zoo/models/minilm; a visible skip when neither exists.
  static func miniLM() throws -> URL {
    let folders = [ProcessInfo.processInfo.environment["ZOO_MINILM_MODEL"], NSHomeDirectory() + "/.zoo/models/minilm"]
      .compactMap { $0 }.filter { !$0.isEmpty }
    guard let found = folders.first(where: { FileManager.default.fileExists(atPath: $0 + "/model.safetensors") }) else {
      throw XCTSkip(
        "all-MiniLM-L6-v2 is not installed (looked in \(folders)); run `zoo pull minilm`, or `zoo pull minilm --models DIR` with ZOO_MINILM_MODEL=DIR/minilm, as scripts/test does")
    }
    return URL(fileURLWithPath: found)
  }

  static func product(_ name: String) throws -> URL {
    let url = buildDirectory.appendingPathComponent(name)
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw XCTSkip("missing build product \(url.path): build everything first (swift build --build-tests), as scripts/test does")
    }
    return url
  }
}

/// Runs a command and returns its exit status and output.
@discardableResult
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: executable)
  p.arguments = arguments
  if let environment { p.environment = environment }
  let out = Pipe()
  let err = Pipe()
  p.standardOutput = out
  p.standardError = err
  try p.run()
  let o = out.fileHandleForReading.readDataToEndOfFile()
  let e = err.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A scratch folder (0700) with a plugins folder and a models folder, and a real zood
/// serving them on a socket inside it.
final class ZoodInstance: @unchecked Sendable {
  let root: URL
  let plugins: URL
  let models: URL
  let socket: String
  private(set) var process: Process?
  private let logPipe = Pipe()
  private var logData = Data()
  private let logLock = NSLock()

  /// Every plugin zoo builds.
  static let pluginLibraries = [
    "libZooStateSpace.so", "libZooAutoregressive.so", "libZooTransformer.so", "libZooSessa.so", "libZooGAM.so",
    "libZooOrchid.so", "libZooDiffusion.so", "libZooInsertion.so", "libZooToolGate.so",
  ]

  /// Creates the folders and copies every plugin in. `descriptorLimit` starts zood under
  /// `ulimit -n` (soft and hard).
  init(extraArguments: [String] = [], descriptorLimit: Int? = nil) throws {
    self.descriptorLimit = descriptorLimit
    root = URL(fileURLWithPath: "/tmp").appendingPathComponent("zoo-e2e-\(UUID().uuidString.prefix(8))")
    plugins = root.appendingPathComponent("plugins")
    models = root.appendingPathComponent("models")
    socket = root.appendingPathComponent("zood.sock").path
    let fm = FileManager.default
    for dir in [root, plugins, models] {
      try fm.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    for lib in Self.pluginLibraries {
      try fm.copyItem(at: try Paths.product(lib), to: plugins.appendingPathComponent(lib))
    }
    self.extraArguments = extraArguments
  }
  let extraArguments: [String]
  let descriptorLimit: Int?
  /// Variables added to zood's environment.
  var environment: [String: String] = [:]

  /// zoo.json for fixture models that must generate until stopped: the fixtures'
  /// config.json says eos_token_id 0, which a sampled (random-seed) generation from
  /// random weights can draw at any step, ending a stream a test expects to cancel.
  static let noEOS = #"{"eos_token_ids": []}"#

  /// Copies a model folder in under `name`, optionally writing a zoo.json.
  func addModel(from source: URL, as name: String, zooJSON: String? = nil) throws {
    let dest = models.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: dest, withIntermediateDirectories: true)
    for file in try FileManager.default.contentsOfDirectory(atPath: source.path)
    where ["config.json", "model.safetensors", "zoo.json", "tokenizer.json"].contains(file) {
      try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: dest.appendingPathComponent(file))
    }
    if let zooJSON { try zooJSON.write(to: dest.appendingPathComponent("zoo.json"), atomically: true, encoding: .utf8) }
  }

  /// Builds the faulty fixture plugin (Tests/Fixtures/bad-plugins/faulty_forward.c) into
  /// this zood's plugins, and adds a model `name` of it whose every token is followed by
  /// `next`: 'a' for a model that never feeds itself a fault, '^' for one whose every
  /// forward is slow.
  func addFaultyModel(_ name: String, next: Character) throws {
    let source = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/bad-plugins/faulty_forward.c")
    let library = plugins.appendingPathComponent("libfaulty.so")
    if !FileManager.default.fileExists(atPath: library.path) {
      try buildCPlugin([source] + protobufCSources(), into: library)
    }
    var table = [Float](repeating: 0, count: 256 * 256)
    for row in 0..<256 { table[row * 256 + Int(next.asciiValue!)] = 5 }
    let folder = models.appendingPathComponent(name)
    try writeBigramModel(at: folder, vocabulary: 256, table: table, modelType: "faulty")
    try #"{"tokenizer": "bytes", "eos_token_ids": []}"#.write(
      to: folder.appendingPathComponent("zoo.json"), atomically: true, encoding: .utf8)
  }

  /// Links a whole model folder in under `name` (for folders with extra files, such as
  /// sentence-transformers' pooling config).
  func linkModel(_ source: URL, as name: String) throws {
    try FileManager.default.createSymbolicLink(at: models.appendingPathComponent(name), withDestinationURL: source)
  }

  /// Starts zood and waits until it accepts connections.
  func start() throws {
    let p = Process()
    let zood = try Paths.product("zood")
    let arguments =
      ["--socket", socket, "--models", models.path, "--plugins", plugins.path, "--log-level", "debug"]
      // The test models are tiny: one BLAS thread keeps them fast on a busy CI machine,
      // where OpenBLAS's threads stall waiting for each other.
      + ["--blas-threads", "1"] + extraArguments
    if let descriptorLimit {
      // exec keeps the pid: the process is zood itself.
      p.executableURL = URL(fileURLWithPath: "/bin/sh")
      p.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", zood.path] + arguments
    } else {
      p.executableURL = zood
      p.arguments = arguments
    }
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    p.standardError = logPipe
    p.standardOutput = logPipe
    logPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
      let d = h.availableData
      guard let self else { return }
      self.logLock.lock()
      self.logData.append(d)
      self.logLock.unlock()
    }
    try p.run()
    process = p
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      if FileManager.default.fileExists(atPath: socket), log.contains("listening") { return }
      guard p.isRunning else { throw ZoodFailure(message: "zood exited with \(p.terminationStatus):\n\(log)") }
      Thread.sleep(forTimeInterval: 0.05)
    }
    throw ZoodFailure(message: "zood did not start listening within 60 s:\n\(log)")
  }

  /// zood's resident memory, from /proc.
  var residentBytes: Int {
    guard let pid = process?.processIdentifier,
      let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
      let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { return 0 }
    return kb * 1024
  }

  /// CPU time zood has used (user + system), from /proc.
  var cpuSeconds: Double {
    guard let pid = process?.processIdentifier,
      let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return 0 }
    // Fields after the command name: state is field 3, utime 14 and stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
  }

  var log: String {
    logLock.lock()
    defer { logLock.unlock() }
    return String(decoding: logData, as: UTF8.self)
  }

  /// Sends SIGTERM and waits for exit; returns the exit status.
  @discardableResult
  func stop() -> Int32 {
    guard let p = process else { return 0 }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    process = nil
    return p.terminationStatus
  }

  /// Runs `body` with a gRPC client of zoo.v1.Zoo on this zood's socket.
  func withClient<R: Sendable>(
    _ body: (Zoo_V1_Zoo.Client<HTTP2ClientTransport.Posix>, GRPCClient<HTTP2ClientTransport.Posix>) async throws -> R
  ) async throws -> R {
    try await withGRPCClient(
      transport: .http2NIOPosix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
    ) { client in
      try await body(Zoo_V1_Zoo.Client(wrapping: client), client)
    }
  }

  /// Runs one Generate and returns every streamed message.
  func generate(_ request: Zoo_V1_GenerateRequest) async throws -> [Zoo_V1_GenerateResponse] {
    try await withClient { zoo, _ in
      try await zoo.generate(request) { response in
        var all: [Zoo_V1_GenerateResponse] = []
        for try await m in response.messages { all.append(m) }
        return all
      }
    }
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: root)
  }
}

/// A zood started once for a whole test class (in its class `setUp`) and stopped after
/// it; a zood that cannot start fails the class's tests, not the whole run.
final class SharedZood: @unchecked Sendable {
  private var instance: ZoodInstance?
  private var failure = "see the setUp failure above"

  /// Starts zood with `arguments` once `prepare` has added its models and plugins.
  func start(arguments: [String] = [], _ prepare: (ZoodInstance) throws -> Void) {
    do {
      let z = try ZoodInstance(extraArguments: arguments)
      try prepare(z)
      try z.start()
      instance = z
    } catch {
      failure = "\(error)"
      XCTFail("could not start zood: \(error)")
    }
  }

  func stop() {
    instance?.stop()
    instance = nil
  }

  var zood: ZoodInstance {
    get throws { try XCTUnwrap(instance, "zood did not start: \(failure)") }
  }
}

struct ZoodFailure: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// Asserts that `body` fails with the given gRPC status code and a message containing `needle`.
func assertRPCError<T>(
  _ code: RPCError.Code, containing needle: String, file: StaticString = #filePath, line: UInt = #line,
  _ body: () async throws -> T
) async {
  do {
    _ = try await body()
    XCTFail("expected \(code), got success", file: file, line: line)
  } catch let e as RPCError {
    XCTAssertEqual(e.code, code, "\(e.message)", file: file, line: line)
    XCTAssertTrue(e.message.contains(needle), "'\(e.message)' should mention '\(needle)'", file: file, line: line)
  } catch {
    XCTFail("expected RPCError \(code), got \(error)", file: file, line: line)
  }
}

/// Reads a float32 or int64 tensor from a fixture's io.safetensors (a tiny reader, so
/// the end-to-end tests depend on zood alone, not on zoo's own reader).
enum FixtureTensors {
  static func read(_ url: URL) throws -> [String: (shape: [Int], values: [Double])] {
    let data = try Data(contentsOf: url)
    let n = Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
    var out: [String: (shape: [Int], values: [Double])] = [:]
    for (name, v) in header where name != "__metadata__" {
      let info = v as! [String: Any]
      let shape = (info["shape"] as! [NSNumber]).map(\.intValue)
      let offsets = (info["data_offsets"] as! [NSNumber]).map(\.intValue)
      let bytes = data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
      let values: [Double] = bytes.withUnsafeBytes { raw in
        switch info["dtype"] as! String {
        case "F32": return raw.bindMemory(to: Float.self).map(Double.init)
        case "I64": return raw.bindMemory(to: Int64.self).map(Double.init)
        default: return []
        }
      }
      out[name] = (shape, values)
    }
    return out
  }
}

/// The generated protobuf-c sources the C plugins compile with.
func protobufCSources() throws -> [URL] {
  let folder = Paths.packageRoot.appendingPathComponent("Plugins/Examples/CBigram/zoo/v1")
  return try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".pb-c.c") }.sorted()
    .map { folder.appendingPathComponent($0) }
}

/// Builds C plugin sources with the same command as Plugins/Examples/CBigram/build.sh,
/// against zoo_plugin.h in `headers` (default: the current one).
func buildCPlugin(_ sources: [URL], into output: URL, headers: String = "Sources/CZooPlugin/include") throws {
  let root = Paths.packageRoot
  let result = try runProcess(
    "/usr/bin/env",
    ["cc", "-std=c11", "-O2", "-shared", "-fPIC",
     "-I", root.appendingPathComponent(headers).path,
     "-I", root.appendingPathComponent("Plugins/Examples/CBigram").path]
      + sources.map(\.path) + ["-lprotobuf-c", "-lm", "-o", output.path])
  guard result.status == 0 else { throw ZoodFailure(message: "cc failed for \(sources):\n\(result.stderr)") }
}

/// Builds the C example plugin (a bigram model and a greedy decoder).
func buildBigramPlugin(into output: URL, headers: String = "Sources/CZooPlugin/include") throws {
  let bigram = Paths.packageRoot.appendingPathComponent("Plugins/Examples/CBigram/bigram.c")
  try buildCPlugin([bigram] + protobufCSources(), into: output, headers: headers)
}

/// Writes a bigram model folder: row t of the table holds the logits of the token after t.
func writeBigramModel(at folder: URL, vocabulary: Int, table: [Float], modelType: String = "bigram") throws {
  try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  try #"{"model_type": "\#(modelType)", "vocab_size": \#(vocabulary)}"#.write(
    to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
  // One F32 tensor, written by hand so the test does not rely on zoo's own writer.
  let header = #"{"bigram.logits":{"dtype":"F32","shape":[\#(vocabulary),\#(vocabulary)],"data_offsets":[0,\#(table.count * 4)]}}"#
  var bytes: [UInt8] = []
  withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
  bytes += Array(header.utf8)
  table.withUnsafeBytes { bytes += $0 }
  try Data(bytes).write(to: folder.appendingPathComponent("model.safetensors"))
}
