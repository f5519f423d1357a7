import Foundation
import Logging
import Metrics
import SluiceGateway
import SluiceKafkaForTesting

/// A gateway on a temporary socket, stopped when the test releases it.
public final class TestGateway: Sendable {
    public let gateway: Gateway
    public let directory: String
    /// The mock cluster the gateway publishes to, when made with `init(mockCluster:)`; it outlives the gateway.
    public let mockCluster: KafkaMockCluster?
    private let ownsDirectory: Bool
    public var socketPath: String { gateway.configuration.socketPath }

    /// A gateway publishing to the brokers at `brokers`.
    public convenience init(
        brokers: String, directory: String? = nil, clock: any MillisecondClock = SystemClock(),
        metrics: (any MetricsFactory)? = nil, configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) throws {
        try self.init(
            brokers: brokers, mockCluster: nil, directory: directory, clock: clock, metrics: metrics,
            configure: configure)
    }

    /// A gateway publishing to `mockCluster`, which the test drives (faults, topics) through `mockCluster`.
    public convenience init(
        mockCluster: KafkaMockCluster, directory: String? = nil, clock: any MillisecondClock = SystemClock(),
        metrics: (any MetricsFactory)? = nil, configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) throws {
        try self.init(
            brokers: mockCluster.bootstrapServers, mockCluster: mockCluster, directory: directory, clock: clock,
            metrics: metrics, configure: configure)
    }

    private init(
        brokers: String, mockCluster: KafkaMockCluster?, directory: String?, clock: any MillisecondClock,
        metrics: (any MetricsFactory)?, configure: (inout GatewayConfiguration) -> Void
    ) throws {
        self.mockCluster = mockCluster
        self.directory = try directory ?? temporaryDirectory()
        ownsDirectory = directory == nil
        var configuration = GatewayConfiguration()
        configuration.socketPath = self.directory + "/sluice.sock"
        configuration.spoolPath = self.directory + "/spool.db"
        configuration.producer.bootstrapServers = brokers
        configure(&configuration)
        var logger = Logger(label: "sluice-test")
        logger.logLevel =
            ProcessInfo.processInfo.environment["SLUICE_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        gateway = try Gateway(
            configuration: configuration, logger: logger, clock: clock, metrics: metrics ?? MetricsSystem.factory)
    }

    /// Stops the gateway but keeps its directory (spool) for a restart.
    public func stop() { gateway.stop() }

    deinit {
        gateway.stop()
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
