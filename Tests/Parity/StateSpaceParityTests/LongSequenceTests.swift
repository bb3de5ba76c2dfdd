import Foundation
import XCTest
import ZooCore
import ZooPluginKit
import ZooTestSupport

@testable import StateSpace

/// The fixtures are 21–24 tokens long. Here a 300-token sequence (prefill chunks of 128,
/// so chunk boundaries and long state memory are both exercised) runs through the fixture
/// weights and is compared with a plain float64 re-implementation written from the
/// fixture READMEs' conventions, one token at a time.
final class LongSequenceTests: XCTestCase {
  private let length = 300

  private func randomTokens(vocab: Int) -> [Int32] {
    var generator = SplitMix64(seed: 11)
    return (0..<length).map { _ in Int32(generator.next() % UInt64(vocab)) }
  }

  func testMambaLongPrefillMatchesFloat64Recurrence() throws {
    let fixture = try HFFixture.named("mamba-hf")
    let model = try MambaBuilder.load(fixture.context(), prefillChunkRows: 128)
    let tokens = randomTokens(vocab: model.vocabularySize)
    let reference = try Float64Mamba(fixture.modelFile, layers: model.mixers.count)
    let expected = tokens.flatMap { reference.step($0) }
    let state = try model.makeState()
    let logits = try runForward(model, state: state, tokens: tokens).logits
    assertClose(logits, expected.map(Float.init), .float64Reference, "mamba \(length)-token prefill vs float64 recurrence")
    // Continue token by token from the long state.
    let next = try runForward(model, state: state, tokens: [3]).logits
    assertClose(next, reference.step(3).map(Float.init), .float64Reference, "mamba step after a \(length)-token prefill")
  }

  func testMamba2LongPrefillMatchesFloat64Recurrence() throws {
    let fixture = try HFFixture.named("mamba2-hf")
    let model = try Mamba2Builder.load(fixture.context(), prefillChunkRows: 128)
    let tokens = randomTokens(vocab: model.vocabularySize)
    let reference = try Float64Mamba2(fixture.modelFile, layers: model.mixers.count)
    let expected = tokens.flatMap { reference.step($0) }
    let state = try model.makeState()
    let logits = try runForward(model, state: state, tokens: tokens).logits
    assertClose(logits, expected.map(Float.init), .float64Reference, "mamba2 \(length)-token prefill vs float64 recurrence")
  }
}

// MARK: - Float64 references (straight from the math; no shared code with the plugin)

private func tensor(_ file: SafetensorsFile, _ name: String) throws -> [Double] {
  guard let values = file.tensors[name]?.floats() else { throw FixtureError("fixture lacks \(name)") }
  return values.map(Double.init)
}

/// y[o] = Σ_i W[o, i] · x[i] for W [out, in].
private func matvec(_ w: [Double], _ x: [Double], out: Int) -> [Double] {
  let n = x.count
  var y = [Double](repeating: 0, count: out)
  w.withUnsafeBufferPointer { w in
    x.withUnsafeBufferPointer { x in
      for o in 0..<out {
        var sum = 0.0
        for i in 0..<n { sum += w[o * n + i] * x[i] }
        y[o] = sum
      }
    }
  }
  return y
}

private func rmsNorm(_ x: [Double], _ w: [Double]) -> [Double] {
  let scale = 1 / (x.map { $0 * $0 }.reduce(0, +) / Double(x.count) + 1e-5).squareRoot()
  return zip(x, w).map { $0 * scale * $1 }
}

private func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }
private func softplus(_ x: Double) -> Double { x > 20 ? x : log1p(exp(x)) }

/// Mamba-1 (mamba-hf README conventions) as a float64 token-by-token recurrence.
private final class Float64Mamba {
  struct Layer {
    var norm, inProj, convW, convB, xProj, dtW, dtB, aLog, d, outProj: [Double]
    var window: [[Double]]  // last K pre-conv inputs
    var h: [Double]  // [inner, N]
  }
  let embeddings, normF: [Double]
  var layers: [Layer] = []
  let (dModel, inner, n, rank, k, vocab) = (64, 128, 16, 4, 4, 256)

  init(_ file: SafetensorsFile, layers count: Int) throws {
    embeddings = try tensor(file, "backbone.embeddings.weight")
    normF = try tensor(file, "backbone.norm_f.weight")
    for l in 0..<count {
      let p = "backbone.layers.\(l)."
      layers.append(
        Layer(
          norm: try tensor(file, p + "norm.weight"), inProj: try tensor(file, p + "mixer.in_proj.weight"),
          convW: try tensor(file, p + "mixer.conv1d.weight"), convB: try tensor(file, p + "mixer.conv1d.bias"),
          xProj: try tensor(file, p + "mixer.x_proj.weight"), dtW: try tensor(file, p + "mixer.dt_proj.weight"),
          dtB: try tensor(file, p + "mixer.dt_proj.bias"), aLog: try tensor(file, p + "mixer.A_log"),
          d: try tensor(file, p + "mixer.D"), outProj: try tensor(file, p + "mixer.out_proj.weight"),
          window: Array(repeating: Array(repeating: 0, count: 128), count: 4),
          h: Array(repeating: 0, count: 128 * 16)))
    }
  }

  func step(_ token: Int32) -> [Double] {
    var hidden = Array(embeddings[Int(token) * dModel..<(Int(token) + 1) * dModel])
    for l in layers.indices {
      var layer = layers[l]
      let xz = matvec(layer.inProj, rmsNorm(hidden, layer.norm), out: 2 * inner)
      layer.window = Array(layer.window.dropFirst()) + [Array(xz[0..<inner])]
      let x = (0..<inner).map { c in
        silu(layer.convB[c] + (0..<k).reduce(0.0) { $0 + layer.convW[c * k + $1] * layer.window[$1][c] })
      }
      let dbc = matvec(layer.xProj, x, out: rank + 2 * n)
      let delta = matvec(layer.dtW, Array(dbc[0..<rank]), out: inner).enumerated().map { softplus($1 + layer.dtB[$0]) }
      var y = [Double](repeating: 0, count: inner)
      for c in 0..<inner {
        var sum = 0.0
        for i in 0..<n {
          let a = -exp(layer.aLog[c * n + i])
          layer.h[c * n + i] = exp(delta[c] * a) * layer.h[c * n + i] + delta[c] * x[c] * dbc[rank + i]
          sum += layer.h[c * n + i] * dbc[rank + n + i]
        }
        y[c] = (sum + layer.d[c] * x[c]) * silu(xz[inner + c])
      }
      hidden = zip(hidden, matvec(layer.outProj, y, out: dModel)).map(+)
      layers[l] = layer
    }
    return matvec(embeddings, rmsNorm(hidden, normF), out: vocab)
  }
}

/// Mamba-2 (mamba2-hf README conventions, n_groups 1) as a float64 recurrence.
private final class Float64Mamba2 {
  struct Layer {
    var norm, inProj, convW, convB, dtBias, aLog, d, gateNorm, outProj: [Double]
    var window: [[Double]]
    var s: [Double]  // [H, P, N]
  }
  let embeddings, normF: [Double]
  var layers: [Layer] = []
  let (dModel, inner, heads, headDim, n, k, vocab) = (64, 128, 8, 16, 16, 4, 256)
  var convDim: Int { inner + 2 * n }

  init(_ file: SafetensorsFile, layers count: Int) throws {
    embeddings = try tensor(file, "backbone.embeddings.weight")
    normF = try tensor(file, "backbone.norm_f.weight")
    for l in 0..<count {
      let p = "backbone.layers.\(l)."
      layers.append(
        Layer(
          norm: try tensor(file, p + "norm.weight"), inProj: try tensor(file, p + "mixer.in_proj.weight"),
          convW: try tensor(file, p + "mixer.conv1d.weight"), convB: try tensor(file, p + "mixer.conv1d.bias"),
          dtBias: try tensor(file, p + "mixer.dt_bias"), aLog: try tensor(file, p + "mixer.A_log"),
          d: try tensor(file, p + "mixer.D"), gateNorm: try tensor(file, p + "mixer.norm.weight"),
          outProj: try tensor(file, p + "mixer.out_proj.weight"),
          window: Array(repeating: Array(repeating: 0, count: 160), count: 4),
          s: Array(repeating: 0, count: 8 * 16 * 16)))
    }
  }

  func step(_ token: Int32) -> [Double] {
    var hidden = Array(embeddings[Int(token) * dModel..<(Int(token) + 1) * dModel])
    for l in layers.indices {
      var layer = layers[l]
      let projected = matvec(layer.inProj, rmsNorm(hidden, layer.norm), out: inner + convDim + heads)
      layer.window = Array(layer.window.dropFirst()) + [Array(projected[inner..<inner + convDim])]
      let xbc = (0..<convDim).map { c in
        silu(layer.convB[c] + (0..<k).reduce(0.0) { $0 + layer.convW[c * k + $1] * layer.window[$1][c] })
      }
      var y = [Double](repeating: 0, count: inner)
      for h in 0..<heads {
        let delta = softplus(projected[inner + convDim + h] + layer.dtBias[h])
        let decay = exp(delta * -exp(layer.aLog[h]))
        for p in 0..<headDim {
          let x = xbc[h * headDim + p]
          var sum = 0.0
          for i in 0..<n {
            let idx = (h * headDim + p) * n + i
            layer.s[idx] = decay * layer.s[idx] + delta * x * xbc[inner + i]
            sum += layer.s[idx] * xbc[inner + n + i]
          }
          y[h * headDim + p] = sum + layer.d[h] * x
        }
      }
      let gated = (0..<inner).map { y[$0] * silu(projected[$0]) }
      let normed = rmsNorm(gated, layer.gateNorm)
      hidden = zip(hidden, matvec(layer.outProj, normed, out: dModel)).map(+)
      layers[l] = layer
    }
    return matvec(embeddings, rmsNorm(hidden, normF), out: vocab)
  }
}
