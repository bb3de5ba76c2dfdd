import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import XCTest
import ZooProto
import ZooRPC
import ZooTestSupport

/// Files and clients zood meets in real use that once crashed it, hung it, or got a wrong
/// answer (issue 8, one test per case, numbered as there). Each runs a real zood and
/// checks that it survives, keeps serving the other models, and says what was wrong.
final class ReliabilityTests: XCTestCase {
  static func request(_ model: String, tokens: Int32 = 3, prompt: [Int32] = [1, 2]) -> Zoo_V1_GenerateRequest {
    .with {
      $0.model = model
      $0.promptTokenIds = prompt
      $0.options = .with {
        $0.maxTokens = tokens
        $0.temperature = 0
      }
    }
  }

  /// Generates a few tokens; fails the test if that fails.
  static func assertServes(_ z: ZoodInstance, _ model: String, file: StaticString = #filePath, line: UInt = #line) async {
    do {
      let tokens = try await z.generate(Self.request(model)).flatMap(\.tokenIds)
      XCTAssertEqual(tokens.count, 3, "\(model) generated \(tokens)", file: file, line: line)
    } catch {
      XCTFail("\(model) should still serve, got \(error)\n\(z.log.suffix(2000))", file: file, line: line)
    }
    XCTAssertTrue(z.process?.isRunning == true, "zood died:\n\(z.log.suffix(2000))", file: file, line: line)
  }

  func listed(_ z: ZoodInstance, _ name: String) async throws -> Zoo_V1_ModelSummary? {
    try await z.withClient { zoo, _ in try await zoo.listModels(.init()).models.first { $0.name == name } }
  }

  /// Writes a model folder: mamba-hf's config.json (optionally changed) and `files`.
  func writeModel(_ z: ZoodInstance, _ name: String, config: (inout [String: Any]) -> Void = { _ in }, files: [String: Data] = [:])
    throws
  {
    let folder = z.models.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var object = try JSONSerialization.jsonObject(
      with: Data(contentsOf: FixtureLocation.folder("mamba-hf").appendingPathComponent("config.json"))) as! [String: Any]
    config(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: folder.appendingPathComponent("config.json"))
    for (file, data) in files { try data.write(to: folder.appendingPathComponent(file)) }
  }

  // MARK: 1. A loaded model's weights file is truncated

  /// zood reads weights into its own memory, so a running generation goes on, the model
  /// unloads when its file changes, and the next request is refused naming the file.
  func testTruncatedWeightsFileDoesNotCrash() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.addModel(from: FixtureLocation.folder("mamba2-hf"), as: "other")
    try z.start()
    let weights = z.models.appendingPathComponent("m/model.safetensors").path
    let generated = try await z.withClient { zoo, _ in
      try await zoo.generate(Self.request("m", tokens: 4000)) { response in
        var n = 0
        for try await message in response.messages {
          n += message.tokenIds.count
          if n == 5 { XCTAssertEqual(truncate(weights, 1000), 0) }
          if n >= 300 { break }
        }
        return n
      }
    }
    XCTAssertEqual(generated, 300, "the running generation went on after the truncation")
    // The watcher notices the change within a second or so and unloads the model.
    for _ in 0..<100 where !z.log.contains("unloaded model m because its files changed") {
      try await Task.sleep(for: .milliseconds(100))
    }
    XCTAssertTrue(z.log.contains("unloaded model m because its files changed"), z.log.suffix(2000).description)
    await assertRPCError(.failedPrecondition, containing: "model.safetensors") { try await z.generate(Self.request("m")) }
    await Self.assertServes(z, "other")
  }

  // MARK: 2. An eos_token_id that is not a token id

  func testOutOfRangeEOSTokenIdMakesOnlyThatFolderUnavailable() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    let weights = try Data(contentsOf: FixtureLocation.folder("mamba-hf").appendingPathComponent("model.safetensors"))
    try writeModel(z, "bad", config: { $0["eos_token_id"] = 3_000_000_000 }, files: ["model.safetensors": weights])
    try z.start()  // once a trap: zood could not start with such a folder
    let bad = try await listed(z, "bad")
    XCTAssertEqual(bad?.available, false)
    XCTAssertTrue(bad?.unavailableReason.contains("eos_token_id") == true, bad?.unavailableReason ?? "not listed")
    await Self.assertServes(z, "m")
    // Copied in while zood runs, in a list: the next request for any model used to kill it.
    try writeModel(z, "bad-list", config: { $0["eos_token_id"] = [1, 3_000_000_000] }, files: ["model.safetensors": weights])
    await assertRPCError(.failedPrecondition, containing: "eos_token_id") { try await z.generate(Self.request("bad-list")) }
    await Self.assertServes(z, "m")
  }

  // MARK: 3. A safetensors header length of 2^63 or more

  func testHugeSafetensorsHeaderLengthIsRefused() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try writeModel(z, "huge", files: ["model.safetensors": Data(repeating: 0xff, count: 8) + Data("{}".utf8)])
    try z.start()
    let show = try await z.withClient { zoo, _ in try await zoo.showModel(.with { $0.model = "huge" }) }
    XCTAssertFalse(show.summary.available)
    XCTAssertTrue(show.summary.unavailableReason.contains("header length"), show.summary.unavailableReason)
    await assertRPCError(.failedPrecondition, containing: "header length") { try await z.generate(Self.request("huge")) }
    await Self.assertServes(z, "m")
  }

  // MARK: 4. A tokenizer.json token id of 2^31 − 1

  func testSparseTokenizerIdIsRefusedWithoutAllocating() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    var tokenizer = try JSONSerialization.jsonObject(
      with: Data(contentsOf: FixtureLocation.folder("bpe-tokenizer").appendingPathComponent("tokenizer.json"))) as! [String: Any]
    var added = tokenizer["added_tokens"] as! [[String: Any]]
    added.append(["id": 2_147_483_647, "content": "<|far|>", "special": true, "normalized": false])
    tokenizer["added_tokens"] = added
    try writeModel(
      z, "tok",
      files: [
        "model.safetensors": try Data(contentsOf: FixtureLocation.folder("mamba-hf").appendingPathComponent("model.safetensors")),
        "tokenizer.json": try JSONSerialization.data(withJSONObject: tokenizer),
      ])
    try z.start()
    let before = z.residentBytes
    await assertRPCError(.failedPrecondition, containing: "2147483647") {
      try await z.generate(.with {
        $0.model = "tok"
        $0.prompt = "hello"
      })
    }
    XCTAssertLessThan(z.residentBytes - before, 1 << 30, "zood allocated a table for the id")
    await Self.assertServes(z, "m")
  }

  // MARK: 5. model.safetensors is a FIFO

  func testFIFOInAModelFolderNeverBlocks() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try writeModel(z, "fifo")
    XCTAssertEqual(mkfifo(z.models.appendingPathComponent("fifo/model.safetensors").path, 0o600), 0)
    try z.start()
    // More calls than the async pool has threads: once each one blocked a thread forever.
    for _ in 0..<8 {
      let show = try await z.withClient { zoo, _ in try await zoo.showModel(.with { $0.model = "fifo" }) }
      XCTAssertTrue(show.summary.unavailableReason.contains("FIFO"), show.summary.unavailableReason)
      await assertRPCError(.failedPrecondition, containing: "not a regular file") {
        try await z.withClient { zoo, _ in try await zoo.loadModel(.with { $0.model = "fifo" }) }
      }
      await assertRPCError(.failedPrecondition, containing: "not a regular file") {
        try await z.generate(Self.request("fifo"))
      }
    }
    await Self.assertServes(z, "m")
    XCTAssertEqual(z.stop(), 0)
  }

  // MARK: 6. A client that never reads its stream

  /// A raw HTTP/2 client sends a Generate and then never reads (so never opens its
  /// flow-control window): the generation stops after --stall-timeout, its slot goes to
  /// the next request, zood buffers a bounded number of messages, and SIGTERM does not
  /// wait for the client.
  func testClientThatStopsReadingLosesItsSlotNotZoodsMemory() async throws {
    let z = try ZoodInstance(extraArguments: ["--parallel", "1", "--stall-timeout", "2"])
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    await Self.assertServes(z, "m")
    let before = z.residentBytes
    var request = Self.request("m", tokens: 65536)
    request.options.logprobs = 20
    let silent = try RawConnection(z.socket)
    try silent.send(
      HTTP2.preface + HTTP2.emptySettings + HTTP2.openCall(stream: 1, path: "/zoo.v1.Zoo/Generate")
        + HTTP2.lastMessage(stream: 1, try request.serializedBytes()))
    // The silent request takes the slot first (on a busy machine its frames may be read
    // after a second client's, so wait until zood runs it) ...
    var active: Int32 = 0
    for _ in 0..<200 where active == 0 {
      let loaded = try await z.withClient { zoo, _ in try await zoo.listLoaded(.init()) }
      active = loaded.models.first { $0.name == "m" }?.activeRequests ?? 0
      if active == 0 { try await Task.sleep(for: .milliseconds(50)) }
    }
    XCTAssertEqual(active, 1, "the silent client's request never started")
    // ... and holds it until the stall timeout: the next request waits for it.
    await Self.assertServes(z, "m")
    var logged = false
    for _ in 0..<100 where !logged {
      logged = z.log.contains("the client read nothing for 2 s")
      if !logged { try await Task.sleep(for: .milliseconds(50)) }
    }
    XCTAssertTrue(logged, z.log.suffix(2000).description)
    XCTAssertLessThan(z.residentBytes - before, 64 << 20, "zood buffered the unread stream")
    XCTAssertEqual(z.stop(), 0)
    withExtendedLifetime(silent) {}
  }

  // MARK: 7. More than 100 streams on one connection

  /// zood advertises its stream limit, and a connection with 150 open calls is not torn
  /// down (nio-http2 enforced an unadvertised 100 with GOAWAY PROTOCOL_ERROR).
  func testStreamLimitIsAdvertisedAndHonoured() async throws {
    let z = try ZoodInstance(extraArguments: ["--max-queue", "200"])
    try z.start()
    let connection = try RawConnection(z.socket)
    try connection.send(HTTP2.preface + HTTP2.emptySettings)
    let frames = HTTP2.frames(connection.receive().bytes)
    let settings = try XCTUnwrap(frames.first { $0.type == HTTP2.Frame.settingsType && $0.flags & 1 == 0 })
    let advertised = HTTP2.settings(settings)[0x3]  // SETTINGS_MAX_CONCURRENT_STREAMS
    XCTAssertGreaterThanOrEqual(advertised ?? 0, 264, "SETTINGS: \(HTTP2.settings(settings))")
    var calls = HTTP2.settingsAck  // the limit applies once acknowledged, as clients do
    for i in 0..<150 { calls += HTTP2.openCall(stream: UInt32(2 * i + 1), path: "/zoo.v1.Zoo/ListModels") }
    try connection.send(calls)
    let answer = connection.receive(quiet: .seconds(1))
    XCTAssertFalse(answer.closed, "zood closed the connection")
    XCTAssertFalse(HTTP2.frames(answer.bytes).contains { $0.type == HTTP2.Frame.goAwayType }, "zood sent GOAWAY")
    XCTAssertTrue(z.process?.isRunning == true)
  }

  // MARK: 8. Running out of file descriptors

  /// Under `ulimit -n 256`, 400 idle connections: zood refuses those past its budget
  /// (and says so once), does not spin, closes the idle ones after --idle-timeout, and
  /// then serves loaded and unloaded models alike.
  func testDescriptorBudgetAndIdleConnections() async throws {
    let z = try ZoodInstance(extraArguments: ["--idle-timeout", "2"], descriptorLimit: 256)
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try z.addModel(from: FixtureLocation.folder("mamba2-hf"), as: "other")
    try z.start()
    await Self.assertServes(z, "m")
    XCTAssertTrue(z.log.contains("file descriptor limit 256"), z.log.suffix(2000).description)
    var held: [RawConnection] = []
    for _ in 0..<400 { if let c = try? RawConnection(z.socket) { held.append(c) } }
    try await Task.sleep(for: .milliseconds(500))
    let cpu = z.cpuSeconds
    try await Task.sleep(for: .seconds(2))
    // An idle daemon uses next to no CPU; the spin this replaces burnt a whole core.
    XCTAssertLessThan(z.cpuSeconds - cpu, 0.5, "zood is busy with no request")
    XCTAssertTrue(z.log.contains("refused a connection"), z.log.suffix(2000).description)
    // The idle ones are closed by now (2 s), so new clients get in.
    try await Task.sleep(for: .seconds(1))
    await Self.assertServes(z, "m")
    await Self.assertServes(z, "other")
    withExtendedLifetime(held) {}
  }

  // MARK: 9. The plugin permission check

  /// A plugin reached through a symlink into a world-writable folder, and one in a safe
  /// folder under a world-writable parent, are refused before their code runs.
  func testPluginsUnderWritableFoldersNeverRun() async throws {
    let z = try ZoodInstance()
    let source = z.root.appendingPathComponent("marker.c")
    let marker = z.root.appendingPathComponent("constructor-ran")
    try """
      #include <stdio.h>
      __attribute__((constructor)) static void ran(void) { FILE *f = fopen("\(marker.path)", "w"); if (f) fclose(f); }
      """.write(to: source, atomically: true, encoding: .utf8)
    let open = z.root.appendingPathComponent("open")
    let deep = open.appendingPathComponent("plugins")
    try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    try buildCPlugin([source], into: open.appendingPathComponent("libevil.so"))
    try buildCPlugin([source], into: deep.appendingPathComponent("libdeep.so"))
    try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: open.path)
    try FileManager.default.createSymbolicLink(
      at: z.plugins.appendingPathComponent("libevil.so"), withDestinationURL: open.appendingPathComponent("libevil.so"))
    let z2 = try ZoodInstance(extraArguments: ["--plugins", deep.path])
    for instance in [z, z2] {
      try instance.start()
      let statuses = try await instance.withClient { zoo, _ in try await zoo.listPlugins(.init()).plugins }
      for name in instance === z ? ["libevil.so"] : ["libdeep.so"] {
        let status = try XCTUnwrap(statuses.first { $0.path.hasSuffix(name) }, "\(statuses.map(\.path))")
        XCTAssertEqual(status.state, .failed)
        XCTAssertTrue(status.error.contains("\(open.path) ") && status.error.contains("writable by other users"), status.error)
      }
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: marker.path), "a refused plugin's constructor ran")
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: open.path)
  }

  // MARK: 10. An index naming a file outside the model folder

  func testShardIndexCannotReachOutsideTheFolder() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try writeModel(
      z, "escape", files: ["model.safetensors.index.json": Data(#"{"weight_map": {"w": "../../../../etc/passwd"}}"#.utf8)])
    try z.start()
    let escape = try await listed(z, "escape")
    XCTAssertEqual(escape?.available, false)
    XCTAssertTrue(escape?.unavailableReason.contains("not inside the model folder") == true, escape?.unavailableReason ?? "")
    do {
      _ = try await z.withClient { zoo, _ in try await zoo.loadModel(.with { $0.model = "escape" }) }
      XCTFail("loading a model whose index leaves its folder succeeded")
    } catch let error as RPCError {
      XCTAssertEqual(error.code, .failedPrecondition)
      XCTAssertTrue(error.message.contains("not inside the model folder"), error.message)
      // Nothing of the foreign file reaches the client ("root:x:0" read as a length).
      XCTAssertFalse(error.message.contains("3475222254926655346") || error.message.contains("root"), error.message)
    }
    await Self.assertServes(z, "m")
  }

  // MARK: 11. Wrong answers

  func testDeadlineWhileQueuedIsDeadlineExceeded() async throws {
    let z = try ZoodInstance(extraArguments: ["--parallel", "1"])
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: ZoodInstance.noEOS)
    try z.start()
    try await z.withClient { zoo, _ in
      try await withThrowingTaskGroup(of: Void.self) { group in
        let started = AsyncStream<Void>.makeStream()
        group.addTask {
          try await zoo.generate(Self.request("m", tokens: 65536)) { response in
            for try await _ in response.messages {
              started.continuation.yield()
              try await Task.sleep(for: .milliseconds(1))
            }
          }
        }
        for await _ in started.stream { break }
        var options = CallOptions.defaults
        options.timeout = .milliseconds(300)
        for _ in 0..<10 {
          do {
            _ = try await zoo.generate(Self.request("m"), options: options) { response in
              for try await _ in response.messages {}
            }
            XCTFail("a queued request outlived its deadline")
          } catch let error as RPCError {
            XCTAssertEqual(error.code, .deadlineExceeded, error.message)
          }
        }
        group.cancelAll()
      }
    }
  }

  func testOversizedRequestIsResourceExhaustedNamingTheLimit() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m", zooJSON: #"{"tokenizer": "bytes"}"#)
    try z.start()
    await assertRPCError(.resourceExhausted, containing: "4194304") {
      try await z.generate(.with {
        $0.model = "m"
        $0.prompt = String(repeating: "a", count: 5 << 20)
      })
    }
    await Self.assertServes(z, "m")
  }

  func testHugeModelNameIsNotEchoed() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try z.start()
    do {
      _ = try await z.generate(Self.request(String(repeating: "a", count: 100_000)))
      XCTFail("a 100 KB model name was accepted")
    } catch let error as RPCError {
      XCTAssertEqual(error.code, .invalidArgument, error.message)
      XCTAssertLessThan(error.message.utf8.count, 512, error.message)
    }
    await Self.assertServes(z, "m")
  }

  /// A model name never reaches the filesystem as a path: every RPC that takes one
  /// answers NOT_FOUND for a path, even one that names a real model folder.
  func testPathsAreNeverModelNames() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try z.start()
    let paths = ["../x", "/etc/passwd", "..", ".", "m/../m", "./m", z.models.appendingPathComponent("m").path, "m\0"]
    try await z.withClient { zoo, _ in
      for name in paths {
        await assertRPCError(.notFound, containing: "never by a path") { try await z.generate(Self.request(name)) }
        await assertRPCError(.notFound, containing: "never by a path") { try await zoo.showModel(.with { $0.model = name }) }
        await assertRPCError(.notFound, containing: "never by a path") { try await zoo.loadModel(.with { $0.model = name }) }
        await assertRPCError(.notFound, containing: "never by a path") { try await zoo.unloadModel(.with { $0.model = name }) }
        await assertRPCError(.notFound, containing: "never by a path") {
          try await zoo.embed(.with { $0.model = name; $0.texts = ["x"] })
        }
      }
    }
    await Self.assertServes(z, "m")
  }

  func testConfigValueOfTheWrongKindNamesTheKey() async throws {
    let z = try ZoodInstance()
    let weights = try Data(contentsOf: FixtureLocation.folder("mamba-hf").appendingPathComponent("model.safetensors"))
    try writeModel(z, "half", config: { $0["hidden_size"] = 256.5 }, files: ["model.safetensors": weights])
    try z.start()
    do {
      _ = try await z.withClient { zoo, _ in try await zoo.loadModel(.with { $0.model = "half" }) }
      XCTFail("hidden_size 256.5 was accepted")
    } catch let error as RPCError {
      XCTAssertEqual(error.code, .invalidArgument, error.message)
      XCTAssertTrue(error.message.contains("hidden_size") && !error.message.contains("not valid JSON"), error.message)
    }
  }

  func testBrokenCheckpointIsListedUnavailable() async throws {
    let z = try ZoodInstance()
    try writeModel(z, "garbage", files: ["model.safetensors": Data(repeating: 7, count: 4096)])
    try z.start()
    for _ in 0..<2 {
      let garbage = try await listed(z, "garbage")
      XCTAssertEqual(garbage?.available, false)
      XCTAssertTrue(garbage?.unavailableReason.contains("model.safetensors") == true, garbage?.unavailableReason ?? "")
      await assertRPCError(.failedPrecondition, containing: "model.safetensors") {
        try await z.withClient { zoo, _ in try await zoo.loadModel(.with { $0.model = "garbage" }) }
      }
    }
  }

  func testNaNWeightsAreAnErrorNotOutput() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "nan")
    // Every float of the (tied) embedding becomes NaN.
    let path = z.models.appendingPathComponent("nan/model.safetensors").path
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let headerLength = Int(bytes[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as! [String: Any]
    let offsets = ((header["backbone.embeddings.weight"] as! [String: Any])["data_offsets"] as! [Int])
    let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }
    for i in stride(from: 8 + headerLength + offsets[0], to: 8 + headerLength + offsets[1], by: 4) {
      bytes.replaceSubrange(i..<(i + 4), with: nan)
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    try z.start()
    await assertRPCError(.failedPrecondition, containing: "NaN") { try await z.generate(Self.request("nan")) }
    await Self.assertServes(z, "m")
  }

  // MARK: The folder scan

  /// A loaded model is found without scanning the models folders (zood logs each scan at
  /// debug level); a folder added later is found by the rescan an unknown name causes.
  func testLoadedModelsAreFoundWithoutAScan() async throws {
    let z = try ZoodInstance()
    try z.addModel(from: FixtureLocation.folder("mamba-hf"), as: "m")
    try z.start()
    await Self.assertServes(z, "m")
    func scans() -> Int { z.log.components(separatedBy: "scanned the models folders").count - 1 }
    let before = scans()
    for _ in 0..<5 { await Self.assertServes(z, "m") }
    XCTAssertEqual(scans(), before, "requests for a loaded model scanned the folders")
    try z.addModel(from: FixtureLocation.folder("mamba2-hf"), as: "later")
    await Self.assertServes(z, "later")
    XCTAssertGreaterThan(scans(), before)
  }
}

extension ReliabilityTests {
  /// A large Embed whose deadline passes stops within one embed call (whole texts up to
  /// 1024 tokens) and frees the model: once it ran each layer over the whole batch before
  /// it looked, minutes past the deadline in a debug build.
  func testEmbedStopsSoonAfterItsDeadline() async throws {
    let minilm = try Paths.miniLM()
    let z = try ZoodInstance(extraArguments: ["--parallel", "1"])
    try z.linkModel(minilm, as: "minilm")
    try z.start()
    let text = String(repeating: "a long sentence about nothing in particular, ", count: 40)
    try await z.withClient { zoo, _ in
      _ = try await zoo.embed(.with {
        $0.model = "minilm"
        $0.texts = ["warm up"]
      })
      var options = CallOptions.defaults
      options.timeout = .seconds(3)
      await assertRPCError(.deadlineExceeded, containing: "timed out") {
        // 256 texts of 256 tokens: far more than 3 s of work.
        try await zoo.embed(.with {
          $0.model = "minilm"
          $0.texts = Array(repeating: text, count: 256)
        }, options: options)
      }
      let start = ContinuousClock.now
      _ = try await zoo.embed(.with {
        $0.model = "minilm"
        $0.texts = ["right after"]
      })
      // One layer over one call's 1024 tokens, even in a debug build on a slow machine,
      // is a few seconds; the whole batch is minutes.
      XCTAssertLessThan(ContinuousClock.now - start, .seconds(20), "the expired Embed kept the model")
    }
  }
}
