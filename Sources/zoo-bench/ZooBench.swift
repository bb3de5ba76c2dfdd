import ArgumentParser
import Foundation
import Logging
import ZooCore
import ZooDaemon
import ZooABI

/// zoo-bench: prefill and decode throughput of a model served exactly as zood serves
/// it (the plugin shared library, through the C ABI), without gRPC in the way.
@main
struct ZooBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zoo-bench",
    abstract: "Measure prefill and decode tokens/s of a model loaded through its plugin.",
    discussion: """
      With --geometry mamba-130m (the default) it writes a random-weight checkpoint of \
      mamba-130m's shape (d_model 768, 24 layers, d_state 16, expand 2, vocab 50280, \
      stored as --dtype) to --checkpoint first, unless it is already there. A zoo.json \
      there with "weights": "q8" benchmarks Q8 weights.
      """)

  @Option(help: "Model folder to benchmark; written with random weights if missing.")
  var checkpoint: String = "/tmp/zoo-bench/mamba-130m"

  @Option(help: "Geometry of the random checkpoint: mamba-130m or mamba2-130m.")
  var geometry: String = "mamba-130m"

  @Option(help: "How the random checkpoint stores its tensors: F32, F16 or BF16.")
  var dtype: String = "F32"

  @Option(help: "Folder holding the plugin libraries (default: next to this binary).")
  var plugins: String?

  @Option(help: "Prompt tokens for the prefill measurement.") var prefill: Int = 512
  @Option(help: "Tokens for the decode measurement.") var decode: Int = 128
  @Option(help: "Runs; the median is reported.") var runs: Int = 5
  @Option(help: "OpenBLAS threads.") var threads: Int = 2

  func run() async throws {
    setenv("OPENBLAS_NUM_THREADS", "\(threads)", 1)
    BLAS.threads = threads
    let folder = URL(fileURLWithPath: checkpoint)
    if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) {
      print("writing a random \(geometry) checkpoint to \(checkpoint) ...")
      guard let stored = DType(rawValue: dtype.uppercased()), [.f32, .f16, .bf16].contains(stored) else {
        throw ValidationError("unknown --dtype '\(dtype)'; use F32, F16 or BF16")
      }
      try RandomCheckpoint.write(geometry: geometry, dtype: stored, to: folder)
    }
    let pluginFolder = plugins ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
      .deletingLastPathComponent().path
    let logger = Logger(label: "zoo-bench")
    let loader = PluginLoader(logger: logger)
    let paths = ["libZooStateSpace.so"].map { pluginFolder + "/" + $0 }
    let runtime = Runtime(
      plugins: loader.load(paths: paths), repository: ModelRepository(roots: [folder.deletingLastPathComponent().path]),
      limits: ServingLimits(), logger: logger)
    let model = try await runtime.model(folder.lastPathComponent).handle
    let vocab = model.info.vocabularySize
    var rng = Xoshiro256(seed: 1)
    let prompt = (0..<prefill).map { _ in Int32(rng.next() % UInt64(vocab)) }
    var logits = [Float](repeating: 0, count: vocab)
    let lastRow: [Int64] = [Int64(prefill - 1)]

    var prefillRates: [Double] = []
    var decodeRates: [Double] = []
    for run in 0...runs {
      // Prefill: the whole prompt in one call, logits of the last row only (as `ar` does).
      let state = try model.makeState()
      let t0 = ContinuousClock.now
      try prompt.withUnsafeBufferPointer { p in
        try lastRow.withUnsafeBufferPointer { rows in
          try logits.withUnsafeMutableBufferPointer { l in
            try model.forward(p, state: state, logitRows: rows, logits: l.baseAddress)
          }
        }
      }
      let prefillTime = (ContinuousClock.now - t0).seconds
      // Decode: one token per call with full logits, greedy.
      var token: [Int32] = [logits.withUnsafeBufferPointer { Sampler.argmax($0) }]
      let t1 = ContinuousClock.now
      for _ in 0..<decode {
        try token.withUnsafeBufferPointer { t in
          try logits.withUnsafeMutableBufferPointer { l in try model.forward(t, state: state, logits: l.baseAddress) }
        }
        token[0] = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
      }
      let decodeTime = (ContinuousClock.now - t1).seconds
      if run == 0 { continue }  // warm-up: page in the weights
      prefillRates.append(Double(prefill) / prefillTime)
      decodeRates.append(Double(decode) / decodeTime)
      print(String(format: "run %d: prefill %.1f tok/s, decode %.1f tok/s", run, prefillRates.last!, decodeRates.last!))
    }
    func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
    print(
      String(
        format: "%@ %@, %d threads: prefill %d tokens %.1f tok/s, decode %d tokens %.1f tok/s (median of %d)",
        geometry, checkpoint, threads, prefill, median(prefillRates), decode, median(decodeRates), runs))
  }
}

/// A checkpoint of a real model's shape with random weights, in the HF layout, with a
/// config.json as complete as the real model's (`architectures` included), so other
/// tools read it too: llama.cpp's convert_hf_to_gguf.py (scripts/bench_vs_llamacpp.sh).
enum RandomCheckpoint {
  static func write(geometry: String, dtype: DType, to folder: URL) throws {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var rng = Xoshiro256(seed: 42)
    func uniform(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in (rng.nextUnitFloat() * 2 - 1) * scale } }
    var w = SafetensorsWriter()
    w.dtype = dtype
    let d = 768, layers = 24, n = 16, vocab = 50280, inner = 1536, conv = 4
    var config: [String: Any] = [
      "hidden_size": d, "num_hidden_layers": layers, "state_size": n, "expand": 2, "conv_kernel": conv,
      "vocab_size": vocab, "layer_norm_epsilon": 1e-5, "use_bias": false, "use_conv_bias": true,
      "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0,
      "hidden_act": "silu", "initializer_range": 0.1, "residual_in_fp32": true, "rescale_prenorm_residual": false,
      "time_step_min": 0.001, "time_step_max": 0.1, "time_step_floor": 1e-4, "time_step_scale": 1.0,
      "time_step_init_scheme": "random", "use_cache": true,
    ]
    try w.add("backbone.embeddings.weight", shape: [vocab, d], values: uniform(vocab * d, 0.02))
    try w.add("backbone.norm_f.weight", shape: [d], values: [Float](repeating: 1, count: d))
    switch geometry {
    case "mamba-130m":
      let rank = 48
      config["model_type"] = "mamba"
      config["architectures"] = ["MambaForCausalLM"]
      config["intermediate_size"] = inner
      config["time_step_rank"] = rank
      for i in 0..<layers {
        let p = "backbone.layers.\(i)."
        try w.add(p + "norm.weight", shape: [d], values: [Float](repeating: 1, count: d))
        try w.add(p + "mixer.in_proj.weight", shape: [2 * inner, d], values: uniform(2 * inner * d, 0.03))
        try w.add(p + "mixer.conv1d.weight", shape: [inner, 1, conv], values: uniform(inner * conv, 0.3))
        try w.add(p + "mixer.conv1d.bias", shape: [inner], values: uniform(inner, 0.1))
        try w.add(p + "mixer.x_proj.weight", shape: [rank + 2 * n, inner], values: uniform((rank + 2 * n) * inner, 0.02))
        try w.add(p + "mixer.dt_proj.weight", shape: [inner, rank], values: uniform(inner * rank, 0.1))
        try w.add(p + "mixer.dt_proj.bias", shape: [inner], values: uniform(inner, 1).map { $0 - 4 })
        try w.add(p + "mixer.A_log", shape: [inner, n], values: (0..<(inner * n)).map { logf(Float($0 % n + 1)) })
        try w.add(p + "mixer.D", shape: [inner], values: [Float](repeating: 1, count: inner))
        try w.add(p + "mixer.out_proj.weight", shape: [d, inner], values: uniform(d * inner, 0.02))
      }
    case "mamba2-130m":
      let heads = 24, headDim = 64, channels = inner + 2 * 128
      config["model_type"] = "mamba2"
      config["architectures"] = ["Mamba2ForCausalLM"]
      config["state_size"] = 128
      config["num_heads"] = heads
      config["head_dim"] = headDim
      config["n_groups"] = 1
      config["chunk_size"] = 256
      for i in 0..<layers {
        let p = "backbone.layers.\(i)."
        try w.add(p + "norm.weight", shape: [d], values: [Float](repeating: 1, count: d))
        try w.add(p + "mixer.in_proj.weight", shape: [inner + channels + heads, d], values: uniform((inner + channels + heads) * d, 0.03))
        try w.add(p + "mixer.conv1d.weight", shape: [channels, 1, conv], values: uniform(channels * conv, 0.3))
        try w.add(p + "mixer.conv1d.bias", shape: [channels], values: uniform(channels, 0.1))
        try w.add(p + "mixer.dt_bias", shape: [heads], values: uniform(heads, 1).map { $0 - 4 })
        try w.add(p + "mixer.A_log", shape: [heads], values: (0..<heads).map { logf(Float($0 + 1)) })
        try w.add(p + "mixer.D", shape: [heads], values: [Float](repeating: 1, count: heads))
        try w.add(p + "mixer.norm.weight", shape: [inner], values: [Float](repeating: 1, count: inner))
        try w.add(p + "mixer.out_proj.weight", shape: [d, inner], values: uniform(d * inner, 0.02))
      }
    default:
      throw ValidationError("unknown --geometry '\(geometry)'; use mamba-130m or mamba2-130m")
    }
    try w.write(to: folder.appendingPathComponent("model.safetensors").path)
    let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    try json.write(to: folder.appendingPathComponent("config.json"))
  }
}
