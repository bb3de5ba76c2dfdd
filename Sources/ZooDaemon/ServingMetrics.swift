import CoreMetrics
import Foundation
import GRPCCore
import Metrics
import Prometheus
import ZooProto

/// zood's metrics, recorded through swift-metrics (so any backend can take them) and
/// served in Prometheus' format from the registry zood bootstraps (`prometheus`). Names
/// follow Prometheus' conventions: `zoo_` prefix, base units, `_total` for counters.
/// Model labels are set only for models that exist, so a client sending made-up names
/// cannot grow the number of series.
public enum ServingMetrics {
  /// Buckets for `zoo_time_to_first_token_seconds` and `zoo_request_duration_seconds`.
  static let latencyBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300].map {
    .milliseconds(Int64($0 * 1000))
  }
  /// Buckets for `zoo_inter_token_latency_seconds`.
  static let tokenBuckets: [Duration] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1].map {
    .microseconds(Int64($0 * 1_000_000))
  }

  /// A metrics factory for zood's own registry, with its histogram buckets: zood's
  /// `main` bootstraps swift-metrics with it once.
  public static func factory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.defaultDurationHistogramBuckets = latencyBuckets
    factory.durationHistogramBuckets = ["zoo_inter_token_latency_seconds": tokenBuckets]
    return factory
  }

  /// gRPC's status names by code, as label values (`outcome="not_found"`).
  static let statusNames = [
    "ok", "cancelled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists",
    "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented",
    "internal", "unavailable", "data_loss", "unauthenticated",
  ]

  /// What one request was, filled in as the request path learns it.
  final class RequestLabels: @unchecked Sendable {
    let rpc: String
    /// Set once the model is known to exist.
    var model = ""
    /// The decoder that ran (Generate), once resolved.
    var decoder = ""
    init(rpc: String) { self.rpc = rpc }
  }

  /// `zoo_requests_total` and `zoo_request_duration_seconds` for a finished request;
  /// `error` is nil for success.
  static func finished(_ labels: RequestLabels, error: (any Error)?, since received: ContinuousClock.Instant) {
    let code: RPCError.Code? =
      switch error {
      case nil: nil
      case let e as RPCError: e.code
      case let e as ZooError: e.code
      default: .unknown
      }
    let outcome = code.map { statusNames.indices.contains($0.rawValue) ? statusNames[$0.rawValue] : "unknown" } ?? "ok"
    Counter(
      label: "zoo_requests_total",
      dimensions: [("rpc", labels.rpc), ("model", labels.model), ("decoder", labels.decoder), ("outcome", outcome)]
    ).increment()
    Metrics.Timer(label: "zoo_request_duration_seconds", dimensions: [("rpc", labels.rpc), ("model", labels.model)])
      .record(duration: ContinuousClock.now - received)
  }

  /// One batched decode step (`StepBatcher`): `zoo_batched_steps_total` and the
  /// sequences it advanced, `zoo_batched_sequences_total`; their ratio is the mean batch.
  static func batchedStep(model: String, sequences: Int) {
    Counter(label: "zoo_batched_steps_total", dimensions: [("model", model)]).increment()
    Counter(label: "zoo_batched_sequences_total", dimensions: [("model", model)]).increment(by: sequences)
  }

  /// Token counts and latencies of a completed generation. Time to first token counts
  /// the queue, as the client sees it; inter-token latency is the request's mean.
  static func generated(model: String, stats: Zoo_V1_GenerateStats) {
    let m = [("model", model)]
    Counter(label: "zoo_prompt_tokens_total", dimensions: m).increment(by: Int(stats.promptTokens))
    Counter(label: "zoo_generated_tokens_total", dimensions: m).increment(by: Int(stats.generatedTokens))
    Counter(label: "zoo_forward_passes_total", dimensions: m).increment(by: Int(stats.forwardPasses))
    guard stats.generatedTokens > 0 else { return }
    Metrics.Timer(label: "zoo_time_to_first_token_seconds", dimensions: m)
      .recordSeconds(stats.queueSeconds + stats.prefillSeconds)
    if stats.generatedTokens > 1 {
      Metrics.Timer(label: "zoo_inter_token_latency_seconds", dimensions: m)
        .recordSeconds(stats.decodeSeconds / Double(stats.generatedTokens - 1))
    }
  }

  /// Passes a worker's messages on to the client, counting each on the way as `count`
  /// says (zood --isolate: the worker's own metrics are not served).
  struct CountingWriter<Message: Sendable>: RPCWriterProtocol {
    let client: RPCWriter<Message>
    let count: @Sendable (Message) -> Void

    func write(_ message: Message) async throws {
      count(message)
      try await client.write(message)
    }

    func write(contentsOf messages: some Sequence<Message>) async throws {
      for m in messages { try await write(m) }
    }
  }

  /// Tokens a request read without generating (Embed, Score).
  static func readPrompt(model: String, tokens: Int) {
    Counter(label: "zoo_prompt_tokens_total", dimensions: [("model", model)]).increment(by: tokens)
  }

  /// A model's queue and running requests, whenever either changes.
  static func scheduler(model: String, active: Int, queued: Int) {
    Gauge(label: "zoo_active_requests", dimensions: [("model", model)]).record(active)
    Gauge(label: "zoo_queue_depth", dimensions: [("model", model)]).record(queued)
  }

  /// State read at scrape time: loaded models and their bytes, plugin states.
  static func snapshot(_ runtime: Runtime) async {
    let loaded = await runtime.loadedModels()
    Gauge(label: "zoo_loaded_models").record(loaded.count)
    let bytes = Dictionary(loaded.map { ($0.name, $0.residentBytes) }, uniquingKeysWith: +)
    for model in runtime.listModels() {
      Gauge(label: "zoo_loaded_model_bytes", dimensions: [("model", model.name)]).record(Int64(bytes[model.name] ?? 0))
    }
    for plugin in runtime.pluginStatuses() {
      for state in ["ready", "failed"] {
        let current = plugin.state == .ready ? "ready" : "failed"
        Gauge(label: "zoo_plugin_state", dimensions: [("plugin", plugin.manifest.name.isEmpty ? plugin.path : plugin.manifest.name), ("state", state)])
          .record(state == current ? 1 : 0)
      }
    }
  }

  /// The registry's text after a fresh snapshot; empty when zood has none (a worker).
  static func exposition(_ registry: PrometheusCollectorRegistry?, runtime: Runtime) async -> String {
    guard let registry else { return "" }
    await snapshot(runtime)
    return registry.emitToString()
  }
}
