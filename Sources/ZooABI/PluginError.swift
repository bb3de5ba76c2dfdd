import CZooPlugin

/// An error a plugin reports across the ABI: a zoo_status code and a sentence saying
/// what was wrong and what to do.
public struct PluginError: Error, CustomStringConvertible, Sendable {
  /// The status the call returns.
  public let code: zoo_status
  /// What was wrong and what to do, as a sentence.
  public let message: String

  /// An error with `code` and `message`.
  public init(_ code: zoo_status, _ message: String) {
    self.code = code
    self.message = message
  }

  /// The message.
  public var description: String { message }

  /// ZOO_ERR_INVALID_ARGUMENT: bad options, ids, shapes.
  public static func invalidArgument(_ m: String) -> Self { .init(ZOO_ERR_INVALID_ARGUMENT, m) }
  /// ZOO_ERR_NOT_FOUND: an unknown name or a missing weight.
  public static func notFound(_ m: String) -> Self { .init(ZOO_ERR_NOT_FOUND, m) }
  /// ZOO_ERR_FAILED_PRECONDITION: the model cannot do this.
  public static func failedPrecondition(_ m: String) -> Self { .init(ZOO_ERR_FAILED_PRECONDITION, m) }
  /// ZOO_ERR_OUT_OF_RANGE: a position beyond what the model supports.
  public static func outOfRange(_ m: String) -> Self { .init(ZOO_ERR_OUT_OF_RANGE, m) }
  /// ZOO_ERR_RESOURCE_EXHAUSTED: out of memory or past a limit.
  public static func resourceExhausted(_ m: String) -> Self { .init(ZOO_ERR_RESOURCE_EXHAUSTED, m) }
  /// ZOO_ERR_UNIMPLEMENTED: an optional operation the plugin lacks.
  public static func unimplemented(_ m: String) -> Self { .init(ZOO_ERR_UNIMPLEMENTED, m) }
  /// ZOO_ERR_CANCELLED: the request was cancelled.
  public static func cancelled(_ m: String = "the request was cancelled") -> Self { .init(ZOO_ERR_CANCELLED, m) }
  /// ZOO_ERR_INTERNAL: a bug; the message says where.
  public static func internalError(_ m: String) -> Self { .init(ZOO_ERR_INTERNAL, m) }

  /// Copies this error into a caller-owned zoo_error and returns the code.
  public func write(to err: UnsafeMutablePointer<zoo_error>?) -> Int32 {
    guard let err else { return Int32(code.rawValue) }
    err.pointee.code = Int32(code.rawValue)
    withUnsafeMutableBytes(of: &err.pointee.message) { raw in
      let bytes = Array(message.utf8.prefix(raw.count - 1))
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    return Int32(code.rawValue)
  }

  /// Reads a zoo_error written by the other side.
  public init(code: Int32, from err: zoo_error) {
    var e = err
    let text = withUnsafeBytes(of: &e.message) { raw in
      String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
    self.init(zoo_status(rawValue: UInt32(bitPattern: code)), text.isEmpty ? "plugin error \(code)" : text)
  }
}

/// Runs `body`, turning a thrown error into an ABI status and a written zoo_error.
public func catchingPluginErrors(_ err: UnsafeMutablePointer<zoo_error>?, _ body: () throws -> Void) -> Int32 {
  do {
    try body()
    return Int32(ZOO_OK.rawValue)
  } catch let e as PluginError {
    return e.write(to: err)
  } catch {
    return PluginError.internalError("\(error)").write(to: err)
  }
}
