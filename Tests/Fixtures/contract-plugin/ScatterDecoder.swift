import ZooPluginKit
import ZooProto

/// The greedy continuation `ar` would write, computed first: what both fixture decoders
/// then place out of order, so a test can compare their text with `ar`'s.
func leftToRightTokens(_ session: DecodeSession) throws -> [SampledToken] {
  var sampler = session.makeSampler()
  let state = try session.model.makeState()
  var logits = try session.prefill(state)
  var tokens: [SampledToken] = []
  while true {
    try session.checkCancelled()
    tokens.append(sampler.next(logits))
    if tokens.count == Int(session.options.maxTokens) { return tokens }
    try session.step(tokens.last!.id, state: state, logits: &logits)
  }
}

/// `fixture-scatter`: places the left-to-right tokens with SET events in a scrambled
/// order (option `order`), committing the filled prefix after each, as a masked-diffusion
/// decoder does. Its committed text must equal `ar`'s.
enum ScatterDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "fixture-scatter"
    $0.description_p = "Test fixture: ar's tokens placed out of order with SET events."
    $0.requires = .causal
    $0.options = [
      .with {
        $0.name = "order"
        $0.type = .string
        $0.defaultJson = #""odd_even""#
        $0.allowed = ["odd_even", "reverse"]
        $0.description_p = "odd_even: odd positions first, then even ones; reverse: last position first."
      }
    ]
  }

  /// The order positions are set in.
  static func order(_ name: String, count: Int) -> [Int] {
    name == "reverse"
      ? Array((0..<count).reversed())
      : Array(stride(from: 1, to: count, by: 2)) + Array(stride(from: 0, to: count, by: 2))
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let tokens = try leftToRightTokens(session)
    var filled = [Bool](repeating: false, count: tokens.count)
    var committed = 0
    for position in order(try session.option("order"), count: tokens.count) {
      filled[position] = true
      while committed < filled.count && filled[committed] { committed += 1 }
      guard session.emit(tokens[position], at: .set(position), committed: committed) else { return .stop }
    }
    return .length
  }
}

/// `fixture-insert`: builds the left-to-right tokens by insertion: the first, then the
/// last, then each middle token inserted just before the last, committing what can no
/// longer move, as an insertion LM does.
enum InsertDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "fixture-insert"
    $0.description_p = "Test fixture: ar's tokens built by INSERT events in the middle of the text."
    $0.requires = .causal
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    let tokens = try leftToRightTokens(session)
    guard session.emit(tokens[0], at: .insert(0)) else { return .stop }
    guard tokens.count > 1 else { return .length }
    guard session.emit(tokens[tokens.count - 1], at: .insert(1)) else { return .stop }
    for k in 1..<(tokens.count - 1) {
      // t0 ... tk are final once tk is in: later tokens go after it.
      guard session.emit(tokens[k], at: .insert(k), committed: k + 1) else { return .stop }
    }
    return .length
  }
}

/// `fixture-stop-head`: greedy left to right, stopping when the model's "stop" head says
/// so; declares that it needs that head, so zood refuses models without one before it runs.
enum StopHeadDecoder: DecodingStrategy {
  static let declaration = Zoo_V1_DecoderKind.with {
    $0.name = "fixture-stop-head"
    $0.description_p = "Test fixture: needs an output head named stop."
    $0.requires = .causal
    $0.requiresHeads = ["stop"]
  }

  static func run(_ session: DecodeSession) throws -> FinishReason {
    guard let head = session.model.info.head(named: "stop") else {
      throw PluginError.failedPrecondition("this model has no stop head")
    }
    let width = session.model.info.heads[head].width
    var sampler = session.makeSampler()
    let state = try session.model.makeState()
    var logits = try session.prefill(state)
    var stop = [Float](repeating: 0, count: width)
    while true {
      let token = sampler.next(logits)
      guard session.emit(token) else { return .stop }
      try [token.id].withUnsafeBufferPointer { t in
        try logits.withUnsafeMutableBufferPointer { l in
          try stop.withUnsafeMutableBufferPointer { s in
            try session.model.forward(
              t, state: state, logits: l.baseAddress, head: (head, s.baseAddress!), request: session.request)
          }
        }
      }
      if stop[0] > 0 { return .length }
    }
  }
}
