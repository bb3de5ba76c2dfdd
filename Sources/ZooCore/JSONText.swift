import Foundation

/// JSON text for documents written by hand, where Foundation's encoders cannot be used:
/// the safetensors header (its key order) and canonical tool schemas (sorted, compact).
public enum JSONText {
  /// `s` as a JSON string literal, with the characters JSON requires escaped.
  public static func quoted(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
