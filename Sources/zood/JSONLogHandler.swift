import Foundation
import Logging
import ZooCore

#if canImport(Glibc)
import Glibc
#endif

/// `zood --log-format json`: one JSON object per line on stderr, for journald's and log
/// shippers' JSON tooling: `time` (RFC 3339, UTC, milliseconds), `level`, `label`,
/// `message`, then the metadata's keys. swift-log has no JSON handler of its own.
struct JSONLogHandler: LogHandler {
  let label: String
  var logLevel: Logger.Level
  var metadata: Logger.Metadata = [:]

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(
    level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String, file: String,
    function: String, line: UInt
  ) {
    var fields = [("time", Self.now()), ("level", level.rawValue), ("label", label), ("message", message.description)]
    let all = metadata.merging(extra ?? [:]) { $1 }
    fields += all.keys.sorted().map { ($0, all[$0]!.description) }
    let line = "{" + fields.map { JSONText.quoted($0.0) + ":" + JSONText.quoted($0.1) }.joined(separator: ",") + "}\n"
    // One write per line, so lines from several threads never interleave.
    _ = line.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
  }

  private static func now() -> String {
    var tv = timeval()
    gettimeofday(&tv, nil)
    var seconds = tv.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
    return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      + String(format: ".%03dZ", Int(tv.tv_usec) / 1000)
  }
}
