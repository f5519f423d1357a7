import Dispatch
import Foundation
import Logging
import SluiceKafka
import SluiceProtocol
import Synchronization

/// What every connection shares.
final class GatewayContext: Sendable {
    let limits: Limits
    let stats: GatewayStats
    let router: Router
    let producer: KafkaProducer
    let brokers: String
    let logger: Logger
    private let stopping = Atomic<Bool>(false)

    init(limits: Limits, stats: GatewayStats, router: Router, producer: KafkaProducer, brokers: String, logger: Logger)
    {
        self.limits = limits
        self.stats = stats
        self.router = router
        self.producer = producer
        self.brokers = brokers
        self.logger = logger
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }
    func markStopping() { stopping.store(true, ordering: .releasing) }

    func statsJSON() -> [UInt8] {
        stats.snapshot(queueDepth: producer.queueDepth, brokers: brokers).json()
    }
}

/// The running daemon: socket listener, connections, router and Kafka producer.
///
/// `start` wires everything; `stop` shuts down in order: stop accepting, stop reading,
/// flush Kafka (which sends the last acks), close connections, close the producer.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    private let context: GatewayContext
    private let listener: Listener
    private let connections = Mutex<[UInt64: Connection]>([:])
    private let nextConnectionID = Atomic<UInt64>(1)
    private let stopped = Mutex(false)

    /// Validates the configuration, connects the producer and starts serving the socket.
    public init(configuration: GatewayConfiguration, logger: Logger = Logger(label: "sluice")) throws {
        try configuration.validate()
        self.configuration = configuration
        let stats = GatewayStats()
        let producer = try KafkaProducer(
            configuration: configuration.producer, logger: logger, onDelivery: Router.deliveryHandler(stats: stats))
        let router = Router(producer: producer, stats: stats, logger: logger)
        context = GatewayContext(
            limits: configuration.limits, stats: stats, router: router, producer: producer,
            brokers: configuration.producer.bootstrapServers, logger: logger)
        do {
            listener = try Listener(path: configuration.socketPath, mode: configuration.socketMode, logger: logger)
        } catch {
            producer.close(flushTimeoutMilliseconds: 0)
            throw error
        }
        listener.start { [weak self] descriptor in self?.accept(descriptor) }
        logger.info("serving \(configuration.socketPath), publishing to \(configuration.producer.bootstrapServers)")
    }

    /// The counters STATS reports.
    public func stats() -> StatsSnapshot {
        context.stats.snapshot(queueDepth: context.producer.queueDepth, brokers: context.brokers)
    }

    private func accept(_ descriptor: Int32) {
        let id = nextConnectionID.add(1, ordering: .relaxed).oldValue
        let connection = Connection(id: id, descriptor: descriptor, context: context) { [weak self] id in
            guard let self else { return }
            connections.withLock { _ = $0.removeValue(forKey: id) }
            context.stats.connectionsCurrent.subtract(1, ordering: .relaxed)
        }
        connections.withLock { $0[id] = connection }
        context.stats.connectionsTotal.add(1, ordering: .relaxed)
        context.stats.connectionsCurrent.add(1, ordering: .relaxed)
        connection.start()
    }

    /// Shuts down in order; later calls do nothing.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        let logger = context.logger
        logger.info("shutting down: no new connections")
        context.markStopping()
        listener.stop()
        let open = connections.withLock { Array($0.values) }
        for connection in open { connection.stopReading() }
        let left = context.producer.flush(timeoutMilliseconds: configuration.shutdownFlushTimeoutMilliseconds)
        if left > 0 {
            logger.warning("\(left) records were not delivered within the shutdown flush timeout")
        }
        for connection in open { connection.close() }
        context.producer.close(flushTimeoutMilliseconds: 0)
        logger.info("stopped")
    }

    deinit { stop() }
}
