import ZooPluginKit
import ZooProto

/// `fixture-rewrite`: appends a suffix (and, with `embed_model`, the length of the
/// prompt's embedding under that model) to a text prompt, and hands the decoder token
/// ids made by the host's tokenizer, checked by detokenizing them back.
enum RewriteMiddleware: RequestMiddleware {
  static let declaration = Zoo_V1_MiddlewareKind.with {
    $0.name = "fixture-rewrite"
    $0.description_p = "Test fixture: rewrites a text prompt with the host's tokenize, detokenize and embed services."
    $0.config = [
      .with {
        $0.name = "suffix"
        $0.type = .string
        $0.defaultJson = #"" and""#
        $0.description_p = "Text appended to the prompt."
      },
      .with {
        $0.name = "embed_model"
        $0.type = .string
        $0.defaultJson = #""""#
        $0.description_p = "A model that embeds; when set, \" <dimensions>\" of the prompt's embedding is appended too."
      },
    ]
  }

  static func handle(_ call: MiddlewareCall) throws -> Zoo_V1_GenerateRequest? {
    var request = call.request
    var text = request.prompt.isEmpty ? try call.detokenize(request.promptTokenIds) : request.prompt
    let embedModel = call.options["embed_model"] ?? ""
    let suffix = call.options["suffix"] ?? ""
    if !embedModel.isEmpty {
      text += suffix + " \(try call.embed(text, model: embedModel).count)"
    } else {
      text += suffix
    }
    let ids = try call.tokenize(text)
    guard try call.detokenize(ids) == text else {
      throw PluginError.failedPrecondition("the model's tokenizer does not round-trip the prompt")
    }
    request.prompt = ""
    request.promptTokenIds = ids
    return request
  }
}

/// The fixture plugin's definition.
public let contractFixtures = PluginDefinition(
  name: "contract-fixtures",
  version: "0.1.0",
  description: "Test fixtures for the decoder contract: out-of-order and insertion decoders, a rewriting middleware.",
  decoders: [ScatterDecoder.self, InsertDecoder.self, StopHeadDecoder.self],
  middleware: [RewriteMiddleware.self])
