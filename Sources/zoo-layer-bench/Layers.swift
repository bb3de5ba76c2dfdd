import Foundation
import GAM
import Orchid
import Sessa
import StateSpace
import ZooCore
import ZooPluginKit

/// Work to time: `reset` (untimed) restores inputs and state, then `body` is timed.
struct Trial {
  var reset: () -> Void = {}
  var body: () throws -> Void
}

/// One layer under measurement, at D = 512 with random weights.
struct Subject {
  /// Name on the command line.
  let key: String
  /// Row title in the tables.
  let title: String
  /// A prefill of `length` rows from an empty state.
  let prefill: (_ length: Int) throws -> Trial
  /// `steps` one-token calls after a prefilled context; nil for a layer that cannot decode.
  let decode: ((_ context: Int, _ steps: Int) throws -> Trial)?

  static let keys = ["mamba", "gam", "sessa", "orchid", "orchid-causal"]

  /// Builds the layer named `key` for the lengths and contexts `bench` will run.
  static func make(_ key: String, for bench: LayerBench) throws -> Subject {
    switch key {
    case "mamba": try mamba()
    case "gam": try gam(blockSize: max(bench.prefillLengths.last!, bench.decodeHorizon))
    case "sessa": try sessa()
    case "orchid": orchid(causal: false, decodeLMax: bench.decodeHorizon)
    default: orchid(causal: true, decodeLMax: bench.decodeHorizon)
    }
  }

  static let d = LayerBench.width
  /// Vocabulary of the one-layer models: small, so the embedding and the one-row head
  /// cost next to nothing beside the layer.
  static let vocab = 256

  /// One Mamba block of the StateSpace plugin: a one-layer `MambaForCausalLM` (the mixer
  /// type is internal to the plugin) with transformers' defaults d_state 16, expand 2,
  /// conv 4, dt_rank ceil(D/16) = 32, loaded by `MambaBuilder` as zood loads a model.
  static func mamba() throws -> Subject {
    var config = MambaConfig()
    config.hiddenSize = d
    config.numHiddenLayers = 1
    config.vocabSize = vocab
    let (inner, n, r, k) = (config.intermediateSize, config.stateSize, config.dtRank, config.convKernel)
    var w = RandomWeights(seed: 1)
    let p = "backbone.layers.0."
    try w.add("backbone.embeddings.weight", [vocab, d], scale: 1)
    try w.add(p + "norm.weight", [d], offset: 1)
    try w.linear(p + "mixer.in_proj.weight", out: 2 * inner, in: d)
    try w.linear(p + "mixer.conv1d.weight", out: inner, in: k, shape: [inner, 1, k])
    try w.add(p + "mixer.conv1d.bias", [inner], scale: 0.1)
    try w.linear(p + "mixer.x_proj.weight", out: r + 2 * n, in: inner)
    try w.linear(p + "mixer.dt_proj.weight", out: inner, in: r)
    try w.add(p + "mixer.dt_proj.bias", [inner], scale: 1, offset: -4)  // softplus → Δ ≈ 0.02
    try w.add(p + "mixer.A_log", [inner, n], scale: 1.4, offset: 1.4)  // A in about [−16, −1]
    try w.add(p + "mixer.D", [inner], offset: 1)
    try w.linear(p + "mixer.out_proj.weight", out: d, in: inner)
    try w.add("backbone.norm_f.weight", [d], offset: 1)
    let model = try MambaBuilder.load(try w.context(config, modelType: "mamba"))
    return Subject(
      key: "mamba", title: "Mamba block (StateSpace; d_state 16, expand 2, conv 4)",
      prefill: { try modelPrefill(model, length: $0) }, decode: { try modelDecode(model, context: $0, steps: $1) })
  }

  /// One GAM block: a one-layer `GAM_Model` (GAMBlock is internal to the plugin) with
  /// ModelConfig's defaults NUM_MEMORY_SLOTS 512, CONV_KERNEL_SIZE 3, loaded by `GAMBuilder`.
  static func gam(blockSize: Int) throws -> Subject {
    var config = GAMConfig()
    config.vocabSize = vocab
    config.blockSize = blockSize
    config.embeddingSize = d
    config.layerCount = 1
    let (s, k) = (config.memorySlots, config.convKernelSize)
    var w = RandomWeights(seed: 2)
    try w.add("token_embedding.weight", [vocab, d], scale: 1)
    try w.add("pos_embedding.weight", [blockSize, d], scale: 0.1)
    let p = "blocks.0."
    for norm in ["ln1", "ln2"] {
      try w.add(p + norm + ".weight", [d], offset: 1)
      try w.add(p + norm + ".bias", [d])
    }
    try w.linear(p + "causal_conv.weight", out: d, in: k, shape: [d, 1, k])
    try w.add(p + "causal_conv.bias", [d], scale: 0.1)
    try w.linear(p + "memory_bank", out: s, in: d)
    try w.linear(p + "gate.weight", out: 2 * d, in: d, bias: p + "gate.bias")
    try w.linear(p + "ffn.0.weight", out: 4 * d, in: d, bias: p + "ffn.0.bias")
    try w.linear(p + "ffn.2.weight", out: d, in: 4 * d, bias: p + "ffn.2.bias")
    try w.add("ln_f.weight", [d], offset: 1)
    try w.add("ln_f.bias", [d])
    let model = try GAMBuilder.load(try w.context(config, modelType: "gam"))
    return Subject(
      key: "gam", title: "GAM block (512 memory slots, conv 3)",
      prefill: { try modelPrefill(model, length: $0) }, decode: { try modelDecode(model, context: $0, steps: $1) })
  }

  /// One `SessaLayer`, D 512, 8 heads over 8 KV heads (the README's example), run as the
  /// sessa model's prefill runs it: 256 rows per call over the growing cache.
  static func sessa() throws -> Subject {
    var config = SessaLayerConfig(width: d)
    config.heads = 8
    config.kvHeads = 8
    var w = RandomWeights(seed: 3)
    try w.add("ln.weight", [d], offset: 1)
    try w.add("ln.bias", [d])
    try w.linear("W_in.weight", out: 2 * d, in: d, bias: "W_in.bias")
    try w.linear("W_out.weight", out: d, in: d, bias: "W_out.bias")
    for projection in ["q_proj", "k_proj", "v_proj"] {
      try w.linear("mixer.\(projection).weight", out: d, in: d, bias: "mixer.\(projection).bias")
    }
    try w.linear("mixer.proj_fb.weight", out: 2 * d, in: d, bias: "mixer.proj_fb.bias")
    try w.linear("mixer.out_proj.weight", out: d, in: d)
    try w.add("mixer.gamma_bias", [], scale: 0.5)
    try w.linear("mixer.gamma_ctx.weight", out: 1, in: d)
    let layer = try SessaLayer(prefix: "", config: config, weights: try w.load())

    /// Runs rows start..<end of x through the layer, `chunk` rows per call.
    func run(_ x: UnsafeMutablePointer<Float>, _ rows: Range<Int>, chunk: Int, state: SessaState, scratch: UnsafeMutablePointer<Float>) {
      for start in stride(from: rows.lowerBound, to: rows.upperBound, by: chunk) {
        let n = min(chunk, rows.upperBound - start)
        layer.forward(x + start * d, rows: n, start: start, cache: state.layer(0), scratch: scratch)
      }
    }
    /// A trial over `rows` after `rows.lowerBound` cached positions, with x fresh each run.
    func trial(_ rows: Range<Int>, chunk: Int, prefilled: Int) -> Trial {
      let input = randomRows(rows.upperBound, seed: UInt64(rows.upperBound))
      let state = SessaState(layout: layer.cacheLayout)
      state.reserve(rows.upperBound)
      var scratch = [Float](repeating: 0, count: layer.scratchCount(rows: 256, keys: rows.upperBound))
      var x = input
      if prefilled > 0 { run(&x, 0..<prefilled, chunk: 256, state: state, scratch: &scratch) }
      return Trial(
        reset: { restore(&x, from: input) },
        body: { run(&x, rows, chunk: chunk, state: state, scratch: &scratch) })
    }
    return Subject(
      key: "sessa", title: "Sessa layer (8 heads, 8 KV heads)",
      prefill: { trial(0..<$0, chunk: 256, prefilled: 0) },
      decode: { context, steps in trial(context..<context + steps, chunk: 1, prefilled: context) })
  }

  /// The Orchid operator with the official defaults (filter_order 64, emb_dim 3,
  /// short_filter_order 3, Type I conditioning), built with l_max = L for each length:
  /// the published bidirectional operator (FFTs of length L), or zoo's causal variant
  /// (`forwardCausal`, O(L·l_max·D) per prefill). The causal variant decodes with
  /// l_max = the longest decode context + steps.
  static func orchid(causal: Bool, decodeLMax: Int) -> Subject {
    func prefill(_ length: Int) throws -> Trial {
      let op = try orchidOperator(lMax: length)
      let input = randomRows(length, seed: UInt64(length))
      var output = [Float](repeating: 0, count: length * d)
      if !causal {
        return Trial(body: { op.forward(input, length: length, into: &output) })
      }
      var state = [Float](repeating: 0, count: op.causalStateCount)
      var scratch = [Float](repeating: 0, count: op.causalScratchCount(rows: length))
      return Trial(
        reset: { state.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } },
        body: { op.forwardCausal(input, rows: length, position: 0, state: &state, scratch: &scratch, into: &output) })
    }
    func decode(_ context: Int, _ steps: Int) throws -> Trial {
      let op = try orchidOperator(lMax: decodeLMax)
      let input = randomRows(context + steps, seed: UInt64(context))
      var output = [Float](repeating: 0, count: (context + steps) * d)
      var prefilled = [Float](repeating: 0, count: op.causalStateCount)
      op.forwardCausal(input, rows: context, position: 0, state: &prefilled, into: &output)
      var state = prefilled
      var scratch = [Float](repeating: 0, count: op.causalScratchCount(rows: 1))
      return Trial(
        reset: { restore(&state, from: prefilled) },
        body: {
          input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
              for t in context..<context + steps {
                op.forwardCausal(
                  x.baseAddress! + t * d, rows: 1, position: t, state: &state, scratch: &scratch, into: y.baseAddress! + t * d)
              }
            }
          }
        })
    }
    return Subject(
      key: causal ? "orchid-causal" : "orchid",
      title: causal ? "Orchid, zoo's causal variant" : "Orchid operator, bidirectional",
      prefill: prefill, decode: causal ? decode : nil)
  }

  /// An operator with the official defaults at width D and the given l_max, weights
  /// under the official state_dict names.
  static func orchidOperator(lMax: Int) throws -> OrchidOperator {
    var config = OrchidOperatorConfig(dModel: d)
    config.lMax = lMax
    let (order, e) = (config.filterOrder, config.embDim)
    var w = RandomWeights(seed: 4)
    try w.linear("in_linear.weight", out: 3 * d, in: d, bias: "in_linear.bias")
    try w.linear("out_linear.weight", out: d, in: d, bias: "out_linear.bias")
    try w.linear("conv1d_short.weight", out: 3 * d, in: 3, shape: [3 * d, 1, 3])
    try w.add("conv1d_short.bias", [3 * d], scale: 0.1)
    for f in ["fixed_conv.", "fixed_conv_res."] {
      try w.add(f + "bias", [d], scale: 1)
      try w.add(f + "pos_emb.z", [1, lMax, e], scale: 1)
      try w.add(f + "pos_emb.t", [1, lMax, 1], scale: 0.5, offset: 0.5)
      try w.add(f + "modulation.deltas", [1, 1, d], scale: 6, offset: -9)  // the official decays, −15 to −3
      for i in 0...config.numInnerMlps {
        try w.linear(f + "implicit_filter.\(2 * i).weight", out: order, in: i == 0 ? e : order, bias: f + "implicit_filter.\(2 * i).bias")
        try w.add(f + "implicit_filter.\(2 * i + 1).freq", [1, order], offset: 1)
      }
      try w.linear(f + "implicit_filter.\(2 * config.numInnerMlps + 2).weight", out: d, in: order)
    }
    let taps = config.convKernel.convFilterSize
    for (model, width) in [("nn_model", d), ("nn_model2", 2 * d)] {
      let p = "conv_kernel_nn.\(model)."
      try w.linear(p + "conv1d_ls.0.weight", out: width, in: taps, shape: [width, 1, taps], bias: p + "conv1d_ls.0.bias")
      try w.add(p + "norm_ls.0.norm_conv_kernel.weight", [width], offset: 1)
      try w.add(p + "norm_ls.0.norm_conv_kernel.bias", [width])
    }
    return try OrchidOperator(try w.load(), prefix: "", config: config)
  }

  /// Rows [count, D] of inputs uniform in ±√3 (unit variance).
  static func randomRows(_ count: Int, seed: UInt64) -> [Float] {
    var rng = Xoshiro256(seed: seed)
    return (0..<count * d).map { _ in Float(3).squareRoot() * (2 * rng.nextUnitFloat() - 1) }
  }
}

/// A prefill through a one-layer model: every row in one forward call (the model
/// chunks it as zood's prefill does), logits of the last row only, as the `ar` decoder asks.
private func modelPrefill(_ model: any Model, length: Int) throws -> Trial {
  let tokens = randomTokens(length, vocab: model.info.vocabularySize)
  var state = try model.makeState()
  var logits = [Float](repeating: 0, count: model.info.vocabularySize)
  return Trial(
    reset: { state = try! model.makeState() },
    body: { try tokens.withUnsafeBufferPointer { try forward(model, state, $0, logits: &logits) } })
}

/// `steps` one-token forward calls through a one-layer model after `context` tokens;
/// each run starts from a copy of the prefilled state.
private func modelDecode(_ model: any Model, context: Int, steps: Int) throws -> Trial {
  let tokens = randomTokens(context + steps, vocab: model.info.vocabularySize)
  var logits = [Float](repeating: 0, count: model.info.vocabularySize)
  let prefilled = try model.makeState()
  try tokens.withUnsafeBufferPointer { try forward(model, prefilled, UnsafeBufferPointer(rebasing: $0[..<context]), logits: &logits) }
  var state = try prefilled.copy()
  return Trial(
    reset: { state = try! prefilled.copy() },
    body: {
      try tokens.withUnsafeBufferPointer { all in
        for t in context..<context + steps {
          try forward(model, state, UnsafeBufferPointer(rebasing: all[t..<t + 1]), logits: &logits)
        }
      }
    })
}

/// One forward call appending `tokens` to `state`, with the logits of the last row.
private func forward(_ model: any Model, _ state: any ModelState, _ tokens: UnsafeBufferPointer<Int32>, logits: inout [Float]) throws {
  let lastRow = [Int64(tokens.count - 1)]
  try lastRow.withUnsafeBufferPointer { rows in
    try logits.withUnsafeMutableBufferPointer { out in
      try model.forward(ForwardInput(tokens: tokens, logitRows: rows), state: state, output: ForwardOutput(logits: out.baseAddress))
    }
  }
}

/// Copies `source` into `array` in place, so the copy-on-write copy, if any, happens
/// here (untimed) and not at the first write of the timed run.
private func restore(_ array: inout [Float], from source: [Float]) {
  array.withUnsafeMutableBufferPointer { dst in
    source.withUnsafeBufferPointer { dst.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
  }
}

private func randomTokens(_ count: Int, vocab: Int) -> [Int32] {
  var rng = Xoshiro256(seed: UInt64(count))
  return (0..<count).map { _ in Int32(rng.next() % UInt64(vocab)) }
}

/// Random float32 tensors written with ZooCore's SafetensorsWriter to a temporary file
/// and mapped back, so each plugin reads them through `Weights` as it reads a checkpoint.
struct RandomWeights {
  private var writer = SafetensorsWriter()
  private var rng: Xoshiro256

  init(seed: UInt64) { rng = Xoshiro256(seed: seed) }

  /// A tensor uniform in offset ± scale (a constant when scale is 0).
  mutating func add(_ name: String, _ shape: [Int], scale: Float = 0, offset: Float = 0) throws {
    let values = (0..<shape.reduce(1, *)).map { _ in offset + scale * (2 * rng.nextUnitFloat() - 1) }
    try writer.add(name, shape: shape, values: values)
  }

  /// A weight [out, in] (or `shape`) and optionally its bias [out], uniform in ±1/√in
  /// as PyTorch's nn.Linear and nn.Conv1d initialise them.
  mutating func linear(_ name: String, out: Int, in inputs: Int, shape: [Int]? = nil, bias: String? = nil) throws {
    let bound = 1 / Float(inputs).squareRoot()
    try add(name, shape ?? [out, inputs], scale: bound)
    if let bias { try add(bias, [out], scale: bound) }
  }

  /// Writes the file, maps it and removes its name (the mapping keeps the data).
  func load() throws -> Weights {
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("zoo-layer-bench-\(getpid()).safetensors").path
    try writer.write(to: path)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return Weights(try SafetensorsFile(path: path))
  }

  /// A builder's load context: `config` as config.json, these tensors as the weights.
  func context(_ config: some Encodable, modelType: String) throws -> ModelLoadContext {
    ModelLoadContext(
      modelType: modelType, configJSON: try JSONEncoder().encode(config), folder: NSTemporaryDirectory(),
      weights: try load())
  }
}
