import Foundation
import Logging
import SluiceGateway

/// A gateway on a temporary socket, stopped when the test releases it.
public final class TestGateway: Sendable {
    public let gateway: Gateway
    public let directory: String
    public var socketPath: String { gateway.configuration.socketPath }

    public init(brokers: String, configure: (inout GatewayConfiguration) -> Void = { _ in }) throws {
        directory = try temporaryDirectory()
        var configuration = GatewayConfiguration()
        configuration.socketPath = directory + "/sluice.sock"
        configuration.producer.bootstrapServers = brokers
        configure(&configuration)
        var logger = Logger(label: "sluice-test")
        logger.logLevel = .warning
        gateway = try Gateway(configuration: configuration, logger: logger)
    }

    deinit {
        gateway.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
