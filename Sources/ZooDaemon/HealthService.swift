import GRPCCore
import ZooProto
import ZooRPC

/// grpc.health.v1.Health: SERVING for the server ("") and for zoo.v1.Zoo until shutdown
/// begins, then NOT_SERVING.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
  let shutdown: ShutdownSignal
  static let services: Set<String> = ["", "zoo.v1.Zoo"]

  public init(shutdown: ShutdownSignal) { self.shutdown = shutdown }

  private var status: Grpc_Health_V1_HealthCheckResponse {
    .with { $0.status = shutdown.isShuttingDown ? .notServing : .serving }
  }

  public func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws
    -> Grpc_Health_V1_HealthCheckResponse
  {
    guard Self.services.contains(request.service) else {
      throw RPCError(code: .notFound, message: "unknown service '\(request.service)'; zood serves '' and 'zoo.v1.Zoo'")
    }
    return status
  }

  public func watch(
    request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
    context: ServerContext
  ) async throws {
    guard Self.services.contains(request.service) else {
      try await response.write(.with { $0.status = .serviceUnknown })
      return
    }
    let changes = shutdown.shutdownEvents()
    try await response.write(status)
    // Wait for shutdown or for the client to go, whichever comes first.
    let shuttingDown = await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        for await _ in changes {}
        return !Task.isCancelled
      }
      group.addTask {
        try? await context.cancellation.cancelled
        return false
      }
      let first = await group.next() ?? false
      group.cancelAll()
      return first
    }
    if shuttingDown { try await response.write(status) }
  }
}
