import Foundation
import GRPCCore
import NIOCore
import NIOHTTP1

/// A failure in OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`,
/// with the HTTP status OpenAI's clients map to their exception types (the `openai`
/// package: 400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429
/// RateLimitError, 5xx InternalServerError).
struct OpenAIError: Error {
  let status: HTTPResponseStatus
  let message: String
  var param: String?
  var code: String?

  init(_ status: HTTPResponseStatus, _ message: String, param: String? = nil, code: String? = nil) {
    self.status = status
    self.message = message
    self.param = param
    self.code = code
  }

  /// zood's gRPC status for a request, as the HTTP status a REST client expects.
  init(_ error: RPCError) {
    let status: HTTPResponseStatus =
      switch error.code {
      case .invalidArgument, .failedPrecondition, .outOfRange: .badRequest
      case .notFound: .notFound
      case .resourceExhausted: .tooManyRequests
      case .unavailable: .serviceUnavailable
      case .deadlineExceeded: .gatewayTimeout
      case .unimplemented: .notImplemented
      case .permissionDenied: .forbidden
      case .unauthenticated: .unauthorized
      case .cancelled: HTTPResponseStatus(statusCode: 499, reasonPhrase: "Client Closed Request")
      default: .internalServerError
      }
    self.init(status, error.message, code: error.code == .notFound ? "model_not_found" : nil)
  }

  /// OpenAI's `type`: what kind of failure, by status.
  var type: String {
    switch status.code {
    case 401: "authentication_error"
    case 429: "rate_limit_exceeded"
    case 500...: "server_error"
    default: "invalid_request_error"
    }
  }

  var json: ByteBuffer {
    let body: [String: Any] = [
      "error": [
        "message": message, "type": type, "param": param.map { $0 as Any } ?? NSNull(),
        "code": code.map { $0 as Any } ?? NSNull(),
      ] as [String: Any]
    ]
    return ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data())
  }
}
