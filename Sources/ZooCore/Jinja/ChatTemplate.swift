import Foundation

/// A model's chat template: tokenizer_config.json's `chat_template` with the special
/// tokens it may print, rendered as transformers' `apply_chat_template` renders it
/// (variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token` and every
/// other `*_token` of the config).
public struct ChatTemplate: Sendable {
  public let source: String
  let template: JinjaTemplate
  let specialTokens: [String: JinjaValue]

  /// The template in a tokenizer_config.json, nil when it has none. A config may hold
  /// several named templates; the one named "default" is the chat template.
  public init?(tokenizerConfig config: [String: Any]) throws {
    let source: String
    switch config["chat_template"] {
    case let s as String:
      source = s
    case let named as [[String: Any]]:
      guard let s = named.first(where: { $0["name"] as? String == "default" })?["template"] as? String else { return nil }
      source = s
    default:
      return nil
    }
    self.source = source
    template = try JinjaTemplate(source)
    var tokens: [String: JinjaValue] = [:]
    for (key, value) in config where key.hasSuffix("_token") {
      // A token is text, or an AddedToken object with its text in "content".
      if let text = value as? String ?? (value as? [String: Any])?["content"] as? String { tokens[key] = .string(text) }
    }
    specialTokens = tokens
  }

  /// The prompt for `messages` (role and content each), ending with the assistant's
  /// turn opened when `addGenerationPrompt`.
  public func render(messages: [(role: String, content: String)], addGenerationPrompt: Bool = true) throws -> String {
    var context = specialTokens
    context["messages"] = .array(
      messages.map { .object(JinjaObject([("role", .string($0.role)), ("content", .string($0.content))])) })
    context["add_generation_prompt"] = .bool(addGenerationPrompt)
    return try template.render(context)
  }
}
