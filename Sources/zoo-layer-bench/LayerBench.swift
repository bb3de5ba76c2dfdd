import ArgumentParser
import Foundation
import ZooCore

/// zoo-layer-bench (issue 4): how the prefill cost of ONE layer of each architecture grows
/// with the sequence length, at D = 512 on random weights, run in-process through each
/// plugin's public Swift API (no plugin library, no C ABI, no gRPC). Prints a markdown
/// table of tokens/s and seconds per length (median of `--runs` after one warm-up) with
/// the time growth per 4× length, then one-token decode speed at a few contexts.
@main
struct LayerBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zoo-layer-bench",
    abstract: "Prefill scaling of one layer per architecture (Mamba, GAM, Sessa, Orchid) at D = 512.",
    discussion: """
      Weights are random (fixed seeds), written with SafetensorsWriter to the temporary \
      folder and loaded through each plugin's Weights / builder API. A length is skipped, \
      with the reason printed, when one run is estimated (from the shorter lengths' \
      growth) to take longer than --max-run-seconds.
      """)

  @Option(help: "Prefill lengths, comma-separated.") var lengths = "256,1024,4096,8192"
  @Option(help: "Layers, comma-separated, from: \(Subject.keys.joined(separator: ", ")).")
  var layers = Subject.keys.joined(separator: ",")
  @Option(help: "Timed runs per figure, after one warm-up; the median is reported.") var runs = 5
  @Option(help: "OpenBLAS threads.") var threads = 2
  @Option(help: "Skip a length whose run is estimated to take longer than this (seconds).")
  var maxRunSeconds = 60.0
  @Option(help: "Decode contexts, comma-separated (empty: no decode table).") var decodeContexts = "64,2048"
  @Option(help: "One-token calls timed per decode figure.") var decodeSteps = 64

  /// Model width of every layer.
  static let width = 512

  func validate() throws {
    guard runs > 0, threads > 0, decodeSteps > 0 else {
      throw ValidationError("--runs, --threads and --decode-steps must be positive")
    }
    guard !prefillLengths.isEmpty, prefillLengths.allSatisfy({ $0 > 0 }), contexts.allSatisfy({ $0 > 0 }) else {
      throw ValidationError("--lengths needs positive integers (and --decode-contexts, when given)")
    }
    for key in layerKeys where !Subject.keys.contains(key) {
      throw ValidationError("unknown layer '\(key)'; known: \(Subject.keys.joined(separator: ", "))")
    }
  }

  var prefillLengths: [Int] { Self.integers(lengths).sorted() }
  var contexts: [Int] { Self.integers(decodeContexts).sorted() }
  var layerKeys: [String] { layers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
  /// Positions the decode measurements reach (GAM's BLOCK_SIZE and the Orchid l_max they need).
  var decodeHorizon: Int { (contexts.last ?? 0) + decodeSteps }

  private static func integers(_ list: String) -> [Int] {
    list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
  }

  func run() throws {
    setenv("OPENBLAS_NUM_THREADS", "\(threads)", 1)
    BLAS.threads = threads
    let loadBefore = loadAverage()
    let subjects = try layerKeys.map { try Subject.make($0, for: self) }

    // Per layer: one warm-up run per length, in increasing order (its time decides whether
    // the next length is run at all), then `runs` rounds over the lengths, so that load
    // changes on the shared machine reach every length alike.
    var prefill: [[Int: Cell]] = []
    for subject in subjects {
      var row: [Int: Cell] = [:]
      var trials: [(length: Int, trial: Trial)] = []
      var warmUps: [(length: Int, seconds: Double)] = []
      for length in prefillLengths {
        if let estimate = Self.extrapolate(warmUps, to: length), estimate > maxRunSeconds {
          row[length] = .skipped(String(format: "est. %.0f s/run", estimate))
          print("\(subject.key) L=\(length): skipped, one run estimated at \(Int(estimate)) s > --max-run-seconds")
          continue
        }
        let trial = try subject.prefill(length)
        warmUps.append((length, try time(trial)))
        trials.append((length, trial))
      }
      for ((length, _), seconds) in zip(trials, try medians(trials.map(\.trial))) {
        row[length] = .seconds(seconds)
        print(String(format: "%@ L=%d: %.4f s, %.0f tok/s", subject.key, length, seconds, Double(length) / seconds))
      }
      prefill.append(row)
    }

    var decode: [[Int: Cell]] = []
    for subject in subjects where !contexts.isEmpty {
      var row: [Int: Cell] = [:]
      if let make = subject.decode {
        let trials = try contexts.map { try make($0, decodeSteps) }
        for trial in trials { _ = try time(trial) }
        for (context, seconds) in zip(contexts, try medians(trials)) {
          row[context] = .seconds(seconds)
          print(String(format: "%@ decode at %d: %.1f tok/s", subject.key, context, Double(decodeSteps) / seconds))
        }
      } else {
        for context in contexts { row[context] = .skipped("no decode") }
      }
      decode.append(row)
    }

    print(
      "\nPrefill, one layer, D = \(Self.width), \(threads) OpenBLAS threads, median of \(runs) runs: tokens/s (seconds); "
        + "Orchid with l_max = L\n")
    print(prefillTable(subjects, prefill))
    if !contexts.isEmpty {
      print(
        "\nDecode, one layer: \(decodeSteps) one-token calls after the context, tokens/s (ms per token); "
          + "the Orchid causal variant with l_max = \(decodeHorizon)\n")
      print(decodeTable(subjects, decode))
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print(
      "\nload average before \(loadBefore), after \(loadAverage()); peak RSS \(usage.ru_maxrss / 1024) MiB")
  }

  /// Seconds of one run of `trial.body`, after its untimed reset.
  private func time(_ trial: Trial) throws -> Double {
    trial.reset()
    let start = ContinuousClock.now
    try trial.body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
  }

  /// The median of `runs` runs of each trial, the runs taken in rounds over all trials.
  private func medians(_ trials: [Trial]) throws -> [Double] {
    var times = [[Double]](repeating: [], count: trials.count)
    for _ in 0..<runs {
      for (i, trial) in trials.enumerated() { times[i].append(try time(trial)) }
    }
    return times.map { $0.sorted()[$0.count / 2] }
  }

  /// One run's seconds at `length`, from the growth between the last two warmed-up
  /// lengths (quadratic when there is only one; never below linear).
  static func extrapolate(_ measured: [(length: Int, seconds: Double)], to length: Int) -> Double? {
    guard let last = measured.last else { return nil }
    var exponent = 2.0
    if measured.count >= 2 {
      let previous = measured[measured.count - 2]
      exponent = max(1, log(last.seconds / previous.seconds) / log(Double(last.length) / Double(previous.length)))
    }
    return last.seconds * pow(Double(length) / Double(last.length), exponent)
  }

  private func prefillTable(_ subjects: [Subject], _ rows: [[Int: Cell]]) -> String {
    let lengths = prefillLengths
    var lines = [
      "| layer (D = \(Self.width)) | " + lengths.map { "L = \($0)" }.joined(separator: " | ") + " | time growth per 4× L |",
      "|---" + String(repeating: "|---", count: lengths.count + 1) + "|",
    ]
    for (subject, row) in zip(subjects, rows) {
      let cells = lengths.map { row[$0]!.text(tokens: $0) }
      // From length a to b the time grows by (t_b / t_a)^(ln 4 / ln(b / a)) per 4× length.
      let times = lengths.compactMap { l in row[l]!.seconds.map { (length: l, seconds: $0) } }
      func perFourfold(_ a: (length: Int, seconds: Double), _ b: (length: Int, seconds: Double)) -> Double {
        pow(b.seconds / a.seconds, log(4) / log(Double(b.length) / Double(a.length)))
      }
      let growth = zip(times, times.dropFirst()).map { String(format: "×%.1f", perFourfold($0, $1)) }
      var overall = ""
      if times.count > 2, let a = times.first, let b = times.last {
        overall = String(format: " (%d→%d: ×%.1f)", a.length, b.length, perFourfold(a, b))
      }
      lines.append("| \(subject.title) | " + cells.joined(separator: " | ") + " | \(growth.joined(separator: ", "))\(overall) |")
    }
    return lines.joined(separator: "\n")
  }

  private func decodeTable(_ subjects: [Subject], _ rows: [[Int: Cell]]) -> String {
    var lines = [
      "| layer (D = \(Self.width)) | " + contexts.map { "context \($0)" }.joined(separator: " | ") + " |",
      "|---" + String(repeating: "|---", count: contexts.count) + "|",
    ]
    for (subject, row) in zip(subjects, rows) {
      let cells = contexts.map { context -> String in
        guard let seconds = row[context]!.seconds else { return row[context]!.text(tokens: decodeSteps) }
        return String(format: "%.0f (%.2f ms)", Double(decodeSteps) / seconds, 1000 * seconds / Double(decodeSteps))
      }
      lines.append("| \(subject.title) | " + cells.joined(separator: " | ") + " |")
    }
    return lines.joined(separator: "\n")
  }

  private func loadAverage() -> String {
    var load = [Double](repeating: 0, count: 3)
    return getloadavg(&load, 3) == 3 ? load.map { String(format: "%.2f", $0) }.joined(separator: " ") : "unknown"
  }
}

/// A table cell: a median time, or why the figure was not taken.
enum Cell {
  case seconds(Double)
  case skipped(String)

  var seconds: Double? {
    if case .seconds(let s) = self { s } else { nil }
  }

  func text(tokens: Int) -> String {
    switch self {
    case .seconds(let s): String(format: "%.0f (%@ s)", Double(tokens) / s, s < 1 ? String(format: "%.3f", s) : String(format: "%.2f", s))
    case .skipped(let why): "— (\(why))"
    }
  }
}
