import Foundation

/// JSON text for documents written by hand, where Foundation's encoders cannot be used:
/// the safetensors header (its key order), canonical tool schemas (sorted, compact) and
/// chat templates' `tojson` (Python's json.dumps).
public enum JSONText {
  /// `s` as a JSON string literal, with the characters JSON requires escaped; with
  /// `shortEscapes`, backspace and form feed as `\b` and `\f`, as Python's json.dumps
  /// writes them.
  public static func quoted(_ s: String, shortEscapes: Bool = false) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{08}" where shortEscapes: out += "\\b"
      case "\u{0C}" where shortEscapes: out += "\\f"
      case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
