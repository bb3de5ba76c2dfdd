import Foundation

/// Turns text into token ids and ids back into bytes.
public protocol Tokenizer: Sendable {
  /// Number of ids the tokenizer can produce.
  var vocabularySize: Int { get }
  func encode(_ text: String) -> [Int32]
  /// The raw bytes a token stands for (possibly part of a UTF-8 character).
  func bytes(of token: Int32) -> [UInt8]
}

/// The byte tokenizer: each UTF-8 byte is its own token, id = byte value (0...255).
/// Models trained on raw bytes (zoo's bundled Mamba, the parity fixtures) use it.
public struct ByteTokenizer: Tokenizer {
  public init() {}
  public var vocabularySize: Int { 256 }
  public func encode(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }
  public func bytes(of token: Int32) -> [UInt8] { (0..<256).contains(token) ? [UInt8(token)] : [] }
}

/// A token id given in a JSON file (config.json's eos_token_id, tokenizer.json's vocab):
/// an exact integer in 0...Int32.max, else nil. Never wraps or rounds: 3000000000 or 1.5
/// is not a token id, whatever Int32(truncatingIfNeeded:) would make of it.
public func tokenId(fromJSON value: Any?) -> Int32? {
  guard let number = value as? NSNumber else { return nil }
  let d = number.doubleValue
  guard d == d.rounded(), d >= 0, d <= Double(Int32.max) else { return nil }
  return Int32(d)
}
