import Foundation
import XCTest
import ZooTestSupport

@testable import ZooCore

/// zood's Jinja engine against jinja2 3.1.6 in transformers' apply_chat_template
/// environment: every rendering (and every refusal by raise_exception) in
/// Tests/Fixtures/chat-templates/renderings.json, written by
/// scripts/chat_template_fixtures.py.
final class ChatTemplateTests: XCTestCase {
  func testRenderingsMatchJinja2() throws {
    let url = try FixtureLocation.folder("chat-templates").appendingPathComponent("renderings.json")
    let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    let conversations = try XCTUnwrap(root["conversations"] as? [String: Any])
    let templates = try XCTUnwrap(root["templates"] as? [[String: Any]])
    var checked = 0
    for entry in templates {
      let name = try XCTUnwrap(entry["name"] as? String)
      let template = try JinjaTemplate(try XCTUnwrap(entry["template"] as? String))
      for c in try XCTUnwrap(entry["cases"] as? [[String: Any]]) {
        let conversation = try XCTUnwrap(c["conversation"] as? String)
        let addGenerationPrompt = try XCTUnwrap(c["add_generation_prompt"] as? Bool)
        let context: [String: JinjaValue] = [
          "messages": JinjaValue(json: conversations[conversation]), "add_generation_prompt": .bool(addGenerationPrompt),
          "bos_token": .string("<s>"), "eos_token": .string("</s>"),
        ]
        let label = "\(name) on \(conversation), add_generation_prompt \(addGenerationPrompt)"
        if let expected = c["error"] as? String {
          XCTAssertThrowsError(try template.render(context), label) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(label): \(error)")
          }
        } else {
          XCTAssertEqual(try template.render(context), try XCTUnwrap(c["rendered"] as? String), label)
        }
        checked += 1
      }
    }
    XCTAssertEqual(checked, 56)
  }

  func testBadTemplatesAreRefusedSayingWhy() {
    for (source, words) in [
      ("{% if x %}never closed", "endif"), ("{{ x | frobnicate }}", "frobnicate"), ("{% macro m() %}{% endmacro %}", "macro"),
      ("{{ 'unterminated }}", "never closed"), ("{{ x.y( }}", "never closed"), ("{{ 1 + }}", "unexpected"),
    ] {
      XCTAssertThrowsError(try JinjaTemplate(source).render([:]), source) { error in
        XCTAssertTrue("\(error)".contains(words), "\(source): \(error)")
      }
    }
  }
}
