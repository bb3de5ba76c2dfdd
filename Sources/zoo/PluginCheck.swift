import ArgumentParser
import Foundation
import SwiftProtobuf
import ZooProto

extension Zoo {
  struct Plugin: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Work with plugin files.", subcommands: [Check.self])
  }
}

extension Zoo.Plugin {
  /// Loads a plugin with zood's own loader and checks, in a child zood process: a plugin
  /// that crashes while loading takes down the child, not this command.
  struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Load a plugin file as zood would: print what it provides, or exactly why zood would refuse it.",
      discussion: """
        Runs `zood --check-plugin FILE` in a child process (the zood next to this zoo, else on PATH) \
        and exits 0 when zood would load the plugin READY, 1 when it would be FAILED.
        """)
    @Argument(help: "The plugin's shared library (.so).") var file: String
    @Option(help: "The zood executable to load it with.") var zood: String?
    @Flag(help: "Print JSON (zoo.v1.PluginStatus).") var json = false

    func run() throws {
      let executable = try zood ?? Self.findZood()
      let process = Process()
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = ["--check-plugin", file, "--log-level", "error"]
      let output = Pipe()
      let errors = Pipe()
      process.standardOutput = output
      process.standardError = errors
      try process.run()
      let data = output.fileHandleForReading.readDataToEndOfFile()
      let log = errors.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      if process.terminationReason == .uncaughtSignal {
        throw CheckFailure(
          "FAILED: loading \(file) crashed the loader (signal \(process.terminationStatus)); zood would crash loading it "
            + "too: fix the plugin's initializers or zoo_plugin_init\n" + String(decoding: log, as: UTF8.self))
      }
      let status: Zoo_V1_PluginStatus
      do {
        status = try Zoo_V1_PluginStatus(jsonUTF8Data: data)
      } catch {
        throw CheckFailure("zood --check-plugin gave no status (exit \(process.terminationStatus)): \(String(decoding: log, as: UTF8.self))")
      }
      if json {
        try printJSON(status)
      } else {
        print(Self.describe(status))
      }
      if status.state != .ready { throw ExitCode(1) }
    }

    /// What a plugin provides, or why it failed, in a few lines.
    static func describe(_ status: Zoo_V1_PluginStatus) -> String {
      guard status.state == .ready else { return "FAILED: \(status.error)" }
      let m = status.manifest
      var lines = ["READY: \(m.name) \(m.version) (ABI \(m.abiMajor).\(m.abiMinor)): \(m.description_p)"]
      for t in m.modelTypes { lines.append("  model type \(t.modelType): \(t.description_p)") }
      for d in m.decoders {
        lines.append("  decoder \(d.name): \(d.description_p)")
        for o in d.options { lines.append("    --option \(o.name)=\(takes(o)): \(o.description_p)") }
      }
      for w in m.middleware {
        lines.append("  middleware \(w.name): \(w.description_p)")
        for o in w.config { lines.append("    --middleware-option \(w.name).\(o.name)=\(takes(o)): \(o.description_p)") }
      }
      return lines.joined(separator: "\n")
    }

    /// "odd_even|reverse (default "odd_even")", "INT in 1...512 (default 64)".
    static func takes(_ field: Zoo_V1_ConfigField) -> String {
      let kind =
        field.allowed.isEmpty
        ? "\(field.type)".uppercased() : field.allowed.joined(separator: "|")
      let range =
        field.minimum.isEmpty && field.maximum.isEmpty
        ? "" : " in \(field.minimum.isEmpty ? "-inf" : field.minimum)...\(field.maximum.isEmpty ? "inf" : field.maximum)"
      return kind + range + (field.defaultJson.isEmpty ? " (required)" : " (default \(field.defaultJson))")
    }

    /// The zood beside this executable, else the first on PATH.
    static func findZood() throws -> String {
      let fm = FileManager.default
      if let me = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        let sibling = ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent("zood")
        if fm.isExecutableFile(atPath: sibling) { return sibling }
      }
      for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let candidate = (String(dir) as NSString).appendingPathComponent("zood")
        if fm.isExecutableFile(atPath: candidate) { return candidate }
      }
      throw CheckFailure("cannot find zood next to zoo or on PATH; pass --zood PATH")
    }
  }
}

/// A check that could not run, or a crash, as a sentence (exit 1).
struct CheckFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
