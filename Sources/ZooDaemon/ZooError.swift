import CZooPlugin
import GRPCCore

/// A request failure with the gRPC status it maps to and a sentence for the client
/// saying what was wrong and what to do.
public struct ZooError: Error, CustomStringConvertible, Sendable {
  public let code: RPCError.Code
  public let message: String

  public var description: String { message }
  public var rpcError: RPCError { RPCError(code: code, message: message) }

  static func notFound(_ m: String) -> Self { .init(code: .notFound, message: m) }
  static func invalidArgument(_ m: String) -> Self { .init(code: .invalidArgument, message: m) }
  static func failedPrecondition(_ m: String) -> Self { .init(code: .failedPrecondition, message: m) }
  static func unavailable(_ m: String) -> Self { .init(code: .unavailable, message: m) }
  static func resourceExhausted(_ m: String) -> Self { .init(code: .resourceExhausted, message: m) }
  static func cancelled(_ m: String) -> Self { .init(code: .cancelled, message: m) }
  static func deadlineExceeded(_ m: String) -> Self { .init(code: .deadlineExceeded, message: m) }
  static func internalError(_ m: String) -> Self { .init(code: .internalError, message: m) }
  static func unimplemented(_ m: String) -> Self { .init(code: .unimplemented, message: m) }

  /// The zoo_status for this error, for answers to plugins (the codes are gRPC's).
  var pluginStatus: zoo_status { zoo_status(rawValue: UInt32(code.rawValue)) }

  /// A plugin's zoo_status: the numbers were chosen to equal gRPC's codes.
  static func fromPlugin(_ status: Int32, _ message: String, context: String) -> Self {
    let code: RPCError.Code =
      switch zoo_status(rawValue: UInt32(bitPattern: status)) {
      case ZOO_ERR_CANCELLED: .cancelled
      case ZOO_ERR_INVALID_ARGUMENT: .invalidArgument
      case ZOO_ERR_NOT_FOUND: .notFound
      case ZOO_ERR_RESOURCE_EXHAUSTED: .resourceExhausted
      case ZOO_ERR_FAILED_PRECONDITION: .failedPrecondition
      case ZOO_ERR_OUT_OF_RANGE: .outOfRange
      case ZOO_ERR_UNIMPLEMENTED: .unimplemented
      default: .internalError
      }
    return .init(code: code, message: "\(context): \(message)")
  }
}
