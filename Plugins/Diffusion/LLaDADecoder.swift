import ZooPluginKit
import ZooProto

/// `llada`: LLaDA's sampler (Nie et al. 2025, arXiv 2502.09992; ML-GSAI/LLaDA @ b7e6c35
/// generate.py `generate`). The generation is split into blocks of `block_length`
/// decoded left to right (semi-autoregressive); each block gets steps / blocks steps, and
/// step i of a block commits k_i of its masks (the block's masks spread evenly, the
/// remainder to the first steps). Each step runs the whole canvas, predicts every mask
/// (argmax, or Gumbel-max at temperature > 0 in float64) and commits the k_i most
/// confident in the current block: by softmax probability (`low_confidence`) or at
/// random (`random`). With `cfg_scale` s > 0 each step also runs the canvas with the
/// prompt masked, and uses u + (s + 1)(c − u) (classifier-free guidance).
enum LLaDADecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "llada"
    $0.description_p =
      "LLaDA masked-diffusion sampling: semi-autoregressive blocks, a fixed number of tokens per step committed by "
      + "low-confidence or random remasking, optional classifier-free guidance (ML-GSAI/LLaDA generate.py)."
    $0.requires = .bidirectional
    $0.requiresMaskToken = true
    $0.options = [
      .field("steps", .int, "0", "Denoising steps over the whole generation; 0 means max_tokens (one token per step). Must be a multiple of the number of blocks.", minimum: 0, maximum: 65536),
      .field("block_length", .int, "0", "Tokens per semi-autoregressive block; 0 means max_tokens (one block). max_tokens must be a multiple of it.", minimum: 0, maximum: 65536),
      .field("remasking", .string, "\"low_confidence\"", "Which predictions a step keeps: the most confident (low_confidence) or random ones (random).", allowed: ["low_confidence", "random"]),
      .field("cfg_scale", .float, "0.0", "Classifier-free guidance scale s: logits u + (s + 1)(c − u) with u from the prompt masked; 0 turns it off (one forward per step instead of two).", minimum: 0, maximum: 100),
      .field("logits_eos_inf", .bool, "false", "Never predict an end-of-sequence token (LLaDA Appendix B.4): their logits are set to −∞."),
      .field("confidence_eos_eot_inf", .bool, "false", "Predicted end-of-sequence tokens get confidence 0, so they are committed last (LLaDA Appendix B.4)."),
    ]
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let plan = try BlockPlan(session, blockLength: session.intOption("block_length"), steps: session.intOption("steps"))
    let cfgScale = try session.floatOption("cfg_scale")
    let eos = session.eosTokens
    var canvas = try Canvas(session)
    var predictor = Predictor(
      temperature: Double(session.options.temperature),
      measure: try session.option("remasking") == "random" ? .random : .probability,
      excluded: try session.boolOption("logits_eos_inf") ? eos : [], neverPicked: [canvas.mask],
      unscored: try session.boolOption("confidence_eos_eot_inf") ? eos : [], seed: session.options.seed)
    let denoiser = try Denoiser(session)
    let unconditional = cfgScale > 0 ? try Denoiser(session) : nil

    for block in canvas.blocks(of: plan.blockLength) {
      let schedule = transferSchedule(masked: canvas.masked(in: block).count, steps: plan.stepsPerBlock)
      for k in schedule {
        try session.checkCancelled()
        let masked = canvas.masked(in: block)
        if masked.isEmpty { break }
        let logits = try guided(canvas, masked, denoiser, unconditional, scale: cfgScale)
        let picks = masked.map { predictor.predict(logits.row($0), at: $0) }.mostConfident(k)
        guard canvas.commit(picks.map { ($0.position, $0.token) }, session: session) else { return .stop }
      }
    }
    return .length
  }

  /// The logits of `positions` from a full forward, guided when `unconditional` is set:
  /// u + (s + 1)(c − u), with u the logits of the canvas whose prompt is masked.
  static func guided(
    _ canvas: Canvas, _ positions: [Int], _ denoiser: Denoiser, _ unconditional: Denoiser?, scale: Double
  ) throws -> PositionLogits {
    let conditional = try denoiser.full(canvas.tokens, logitsFor: positions)
    guard let unconditional else { return conditional }
    var masked = canvas.tokens
    for p in 0..<canvas.promptLength { masked[p] = canvas.mask }
    let u = try unconditional.full(masked, logitsFor: positions)
    let s = Float(scale + 1)
    for i in conditional.values.indices { conditional.values[i] = u.values[i] + s * (conditional.values[i] - u.values[i]) }
    return conditional
  }
}

/// LLaDA's semi-autoregressive blocks over the generation slots.
struct BlockPlan {
  let blockLength: Int
  let stepsPerBlock: Int

  /// `blockLength` 0 means one block; `steps` 0 means one token per step. Refuses what
  /// LLaDA's generate asserts (blocks that do not tile max_tokens, steps that do not
  /// split evenly over the blocks), naming the option.
  init(_ session: DecodeSession, blockLength requested: Int, steps requestedSteps: Int) throws {
    let length = Int(session.options.maxTokens)
    blockLength = requested == 0 ? length : requested
    guard length % blockLength == 0 else {
      throw PluginError.invalidArgument(
        "decoder option 'block_length' (\(blockLength)) must divide max_tokens (\(length)); choose a block length that tiles the generation, or 0 for one block")
    }
    let blocks = length / blockLength
    let steps = requestedSteps == 0 ? length : requestedSteps
    guard steps % blocks == 0 else {
      throw PluginError.invalidArgument(
        "decoder option 'steps' (\(steps)) must be a multiple of the number of blocks (max_tokens \(length) / block_length \(blockLength) = \(blocks))")
    }
    stepsPerBlock = steps / blocks
  }
}

extension Canvas {
  /// The request's canvas: its prompt, then max_tokens masks of the model's mask token.
  init(_ session: DecodeSession) throws {
    guard let mask = session.model.info.specialTokens.mask else {
      throw PluginError.failedPrecondition("the model has no mask token (mask_token_id in config.json)")
    }
    let length = Int(session.options.maxTokens)
    let limit = session.model.info.maxPositions
    guard limit == 0 || session.prompt.count + length <= limit else {
      throw PluginError.outOfRange(
        "the prompt (\(session.prompt.count) tokens) plus max_tokens (\(length)) exceeds the model's \(limit) positions; lower max_tokens")
    }
    self.init(prompt: session.prompt, length: length, mask: mask)
  }
}
