import Foundation
import SwiftProtobuf
import ZooProto

import Autoregressive
import Diffusion
import GAM
import Insertion
import Orchid
import Sessa
import StateSpace
import ToolGate
import Transformer

/// Seed inputs for the protobuf targets, built from the real messages: every bundled
/// plugin's manifest, and requests as the zoo client sends them. `zoo-fuzz --write-seeds DIR`
/// (or ZOO_FUZZ_WRITE_SEEDS=DIR under libFuzzer) writes them to DIR/<target>/.
enum Seeds {
  static func write(to dir: String) throws {
    let plugins = [
      stateSpacePlugin, transformerPlugin, sessaPlugin, GAMPlugin.definition, orchidPlugin,
      autoregressivePlugin, diffusionPlugin, insertionPlugin, toolGatePlugin,
    ]
    var manifests = plugins.map(\.manifest)
    var broken = plugins[1].manifest  // duplicates, bad names, unknown RPC: the refusal paths
    broken.name = "Bad Name!"
    broken.layers += broken.layers.prefix(1)
    broken.abiMinor = 9
    manifests.append(broken)
    try save(manifests, "manifest", dir)

    var g = Zoo_V1_GenerateRequest()
    g.model = "mamba-shakespeare"
    g.prompt = "ROMEO:"
    var requests = [g]
    g.options.maxTokens = 200
    g.options.temperature = 0.7
    g.options.topK = 40
    g.options.topP = 0.9
    g.options.seed = 7
    g.options.stop = ["\n\n"]
    g.options.logprobs = 3
    requests.append(g)
    g.options.decoder = "llada"
    g.options.decoderOptions = ["steps": "64", "block_length": "32", "remasking": "low_confidence"]
    requests.append(g)
    var t = Zoo_V1_GenerateRequest()
    t.model = "ilm-shakespeare"
    t.promptTokenIds = [12, 7, 99]
    var s1 = Zoo_V1_PromptSegment()
    s1.text = "To be"
    s1.gapAfter = true
    var s2 = Zoo_V1_PromptSegment()
    s2.tokenIds = [1, 2, 3]
    t.segments = [s1, s2]
    var mw = Zoo_V1_MiddlewareCall()
    mw.name = "tool-gate"
    mw.options = ["top_k": "3", "threshold": "0.5"]
    t.middleware = [mw]
    requests.append(t)
    try save(requests, "generate-request", dir)

    var e = Zoo_V1_EmbedRequest()
    e.model = "minilm"
    e.texts = ["a sentence", "first text", ""]
    var embeds = [e]
    e.truncate = true
    e.texts = ["東京 🦙 naïve"]
    embeds.append(e)
    try save(embeds, "embed-request", dir)
  }

  static func save<M: SwiftProtobuf.Message>(_ messages: [M], _ target: String, _ dir: String) throws {
    let folder = dir + "/" + target
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for (i, m) in messages.enumerated() {
      let bytes: [UInt8] = try m.serializedBytes()
      try Data(bytes).write(to: URL(fileURLWithPath: folder + "/seed-\(i)"))
    }
  }
}
