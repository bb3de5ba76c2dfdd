import Foundation
import ZooCore

/// Progress of one long step (a download, a model load) as a person sees it on stdout:
/// on a terminal, one line redrawn in place with a bar, the amount done, the rate and
/// the time left, at most ten times a second; when stdout is not a terminal, one plain
/// line at each tenth of the work (and at each new stage), so logs stay short; nothing
/// with `--quiet`. The CLI draws it; the amounts come from whoever does the work.
final class ProgressLine: @unchecked Sendable {  // used by one task at a time
  enum Mode { case terminal, lines, quiet }

  let mode: Mode
  private let started = ContinuousClock.now
  private var label: String
  private var lastDrawn: ContinuousClock.Instant?
  private var lastTenth = -1
  private var drawnWidth = 0

  init(_ label: String, quiet: Bool) {
    self.label = label
    mode = quiet ? .quiet : isatty(STDOUT_FILENO) != 0 ? .terminal : .lines
  }

  /// `done` of `total` bytes (total 0 = unknown): a bar, sizes, rate and time left.
  func bytes(_ done: UInt64, of total: UInt64, stage: String? = nil) {
    let seconds = (ContinuousClock.now - started).seconds
    var detail = total > 0 ? "\(humanBytes(done))/\(humanBytes(total))" : humanBytes(done)
    // The first fraction of a second says nothing about the rate.
    if seconds >= 0.5 {
      let rate = Double(done) / seconds
      detail += "  \(humanBytes(UInt64(rate)))/s"
      if total > done, rate > 0 { detail += "  ETA \(Self.duration(Double(total - done) / rate))" }
    }
    update(stage: stage, fraction: total > 0 ? Double(done) / Double(total) : nil, detail: detail)
  }

  /// A new stage (its label replaces the old one) at `fraction` (nil = unknown).
  func update(stage: String? = nil, fraction: Double?, detail: String = "") {
    let newStage = stage.map { $0 != label } ?? false
    if let stage { label = stage }
    let now = ContinuousClock.now
    switch mode {
    case .quiet:
      return
    case .terminal:
      let complete = (fraction ?? 0) >= 1
      if !newStage, !complete, let lastDrawn, now - lastDrawn < .milliseconds(100) { return }
      lastDrawn = now
      draw(Self.line(label, fraction, detail, bar: true))
    case .lines:
      let tenth = fraction.map { Int(($0 * 10).rounded(.down)) } ?? lastTenth
      guard newStage || tenth > lastTenth else { return }
      lastTenth = newStage && fraction == nil ? -1 : tenth
      write(Self.line(label, fraction, detail, bar: false) + "\n")
    }
  }

  /// Ends the progress with one lasting line (on a terminal it replaces the bar).
  func finish(_ summary: String) {
    switch mode {
    case .quiet: return
    case .terminal: draw(summary + "\n")
    case .lines: write(summary + "\n")
    }
  }

  /// Clears the bar (on a terminal) before an error is printed.
  func abandon() {
    if mode == .terminal && drawnWidth > 0 { draw("") }
  }

  private func draw(_ text: String) {
    let visible = text.trimmingCharacters(in: .newlines).count
    let padding = String(repeating: " ", count: max(0, drawnWidth - visible))
    if text.hasSuffix("\n") {
      write("\r" + text.dropLast() + padding + "\n")
      drawnWidth = 0
    } else {
      write("\r" + text + padding)
      drawnWidth = visible
    }
  }

  /// Unbuffered, so each redraw shows at once.
  private func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

  private static func line(_ label: String, _ fraction: Double?, _ detail: String, bar: Bool) -> String {
    var parts = [label]
    if let fraction {
      let f = min(max(fraction, 0), 1)
      if bar {
        let filled = Int((f * 24).rounded(.down))
        parts.append(String(repeating: "█", count: filled) + String(repeating: "░", count: 24 - filled))
      }
      parts.append(String(format: "%3d%%", Int((f * 100).rounded(.down))))
    }
    if !detail.isEmpty { parts.append(detail) }
    return parts.joined(separator: "  ")
  }

  /// "4s", "2m05s", "1h02m": time left.
  static func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded(.up))
    if s < 60 { return "\(s)s" }
    if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
  }
}
