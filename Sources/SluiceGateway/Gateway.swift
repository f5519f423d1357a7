import Dispatch
import Foundation
import Logging
import Metrics
import SluiceKafka
import SluiceNetwork
import SluiceProtocol
import SluiceSpool
import SluiceSystem
import Synchronization

/// The running daemon: socket listener, connections, router, Kafka producer, spool and
/// retry worker.
///
/// `stop` shuts down in order: stop accepting, stop reading, flush Kafka (which sends the
/// last acks), spool what Kafka did not take in time, close connections, the worker, the
/// producer and the spool.
public final class Gateway: Sendable {
    /// The configuration in force: the one it started with, or the last one a reload applied.
    public var configuration: GatewayConfiguration { settings.current.configuration }
    let settings: SettingsBox
    let context: GatewayContext
    private let loops: EventLoopGroup
    /// The thread where the router runs every connection's batches in turn, off the loops
    /// since it may wait for librdkafka. One for all: routing holds one lock per batch
    /// anyway, and lanes that take turns at it cost more than they give (docs/performance.md).
    let publishLane = WorkerThread(name: "sluice-publish")
    private let listener: Listener
    /// The `/metrics` and `/healthz` listener, when `metrics.listen` is set.
    private let metricsEndpoint: HTTPEndpoint?
    let producer: KafkaProducer
    private let spool: Spool
    let routing: Routing
    private let router: Router
    let worker: RetryWorker
    private let stallWatch = StallWatch()
    /// Set once at the end of init, then only cancelled (an inactive source must not be released).
    /// Runs the health check every 500 ms (`startHealthChecks`).
    private let healthThread = WorkerThread(name: "sluice-health")
    /// Set once by `startHealthChecks`, then only cancelled.
    nonisolated(unsafe) private var healthTimer: RepeatingTimer?
    private let clock: any MillisecondClock
    let connections = Mutex<[UInt64: ClientSession]>([:])
    /// Held while a reload runs, so reloads apply one after the other.
    let reloading = Mutex(())
    /// Entered by each session, left when it closes: `stop` waits on it.
    private let openSessions = DispatchGroup()
    private let nextConnectionID = Atomic<UInt64>(1)
    private let stopped = Mutex(false)

    /// Validates the configuration, opens the spool, connects the producer and starts serving.
    ///
    /// A spool file that cannot be opened stops the start with the reason; it is never
    /// deleted or replaced.
    public init(
        configuration: GatewayConfiguration, logger: Logger = Logger(label: "sluice"),
        clock: any MillisecondClock = SystemClock(), metrics: any MetricsFactory = MetricsSystem.factory
    ) throws {
        try configuration.validate()
        let live = try LiveSettings(configuration, generation: 1)
        let settings = SettingsBox(live)
        self.settings = settings
        do {
            try KafkaLibrary.checkVersion()
        } catch {
            throw ConfigurationError(error.reason)
        }
        logger.info(
            "librdkafka \(KafkaLibrary.version) loaded from \(KafkaLibrary.path ?? "this executable")",
            metadata: ["sluice": "\(sluiceVersion)", "sqlite": "\(Spool.sqliteVersion)", "zstd": "\(zstdVersion)"])
        do {
            try ProcessLimits.raiseDescriptorLimit(toFit: Int(configuration.limits.maxConnections))
        } catch {
            throw ConfigurationError(error.reason)
        }
        self.clock = clock
        // With a metrics listener the gateway's metrics go to its Prometheus registry.
        let prometheus = configuration.metricsListen.map { _ in PrometheusExport() }
        let stats = GatewayStats(metrics: prometheus?.factory ?? metrics)
        try Self.makeParentDirectory(of: configuration.spoolPath)
        let spool = try Spool(
            path: configuration.spoolPath, synchronous: configuration.spoolSynchronous,
            maxBytes: configuration.spoolMaxBytes, exclusive: true,
            fileMode: configuration.access.socketGroup == nil ? 0o600 : 0o640)
        for repair in spool.repairs { logger.warning("spool: cut off a torn tail (never acknowledged): \(repair)") }
        if !configuration.storeFailures {
            logger.warning(
                "kafka.fallback.store-failures is OFF: records Kafka does not take will be DROPPED (counted in STATS)")
        }
        var spooledKeys: [UInt64: Int] = [:]
        for (key, count) in try spool.pendingKeys() {
            spooledKeys[keyHash(topic: key.topic, key: key.key), default: 0] += count
        }
        if !spooledKeys.isEmpty {
            logger.notice("spool holds records for \(spooledKeys.count) keys; they will be delivered first")
        }

        // The producer's callbacks need the routing, which needs the producer to purge: the
        // cycle is closed through this box, filled before anything is produced.
        let wiring = Wiring()
        let stallWatch = self.stallWatch
        // Every record accepted under the announced limits fits librdkafka's message.max.bytes.
        let producer = try KafkaProducer(
            configuration: live.producer, logger: logger,
            onError: { error in
                if error.isAllBrokersDown {
                    if let routing = wiring.routing {
                        routing.forceOpen(reason: "all brokers are down")
                    } else {
                        wiring.allBrokersDownEarly.store(true, ordering: .releasing)
                    }
                }
                if error.isFatal { wiring.router?.restartProducer(reason: "fatal error: \(error.reason)") }
            },
            onDelivery: { opaque, outcome in
                // Any report, of a client's record or a spooled one, shows Kafka is moving.
                stallWatch.reported()
                guard let opaque else { return }
                DeliveryTracker.report(opaque: opaque, outcome: outcome)
            })
        let routing = Routing(
            breaker: configuration.circuitBreaker, spooledKeys: spooledKeys,
            nextSequence: try spool.maxSequence() + 1, clock: clock, stats: stats, logger: logger,
            onTransition: { transition in wiring.transition(transition) })
        let held = HeldKeys()
        let router = Router(
            producer: producer, spool: spool, routing: routing, stats: stats, logger: logger, clock: clock,
            settings: settings, held: held, wakeRetryWorker: { wiring.worker?.wake() })
        let worker = RetryWorker(
            producer: producer, spool: spool, routing: routing, router: router, held: held, stats: stats,
            logger: logger, clock: clock, configuration: configuration.retry,
            reportTimeoutMilliseconds: configuration.retryReportTimeoutMilliseconds)
        try worker.loadRejectedKeys()
        wiring.routing = routing
        wiring.router = router
        wiring.worker = worker
        // A report from before the wiring may have been a moment's: open only if still so.
        if wiring.allBrokersDownEarly.load(ordering: .acquiring) && !producer.brokerAnswers(timeoutMilliseconds: 1_000)
        {
            routing.forceOpen(reason: "all brokers are down")
        }
        self.producer = producer
        self.spool = spool
        self.routing = routing
        self.router = router
        self.worker = worker
        context = GatewayContext(
            settings: settings, stats: stats, router: router, logger: logger,
            statsSource: { stopping in
                try? spool.recountIfChangedElsewhere()
                let live = settings.current.configuration
                var snapshot = stats.snapshot(
                    queueDepth: producer.queueDepth, brokers: live.producer.bootstrapServers,
                    stampedHeaders: live.stampHeaders.names, circuitState: routing.breakerState,
                    storeFailures: live.storeFailures, spool: spool.counts(), spoolByTopic: spool.countsByTopic(),
                    oldestPendingAt: (try? spool.oldestPendingCreatedAt()) ?? nil, now: clock.now(),
                    spoolUsage: spool.usage, health: live.health, stopping: stopping,
                    kafkaRefusal: producer.connectionProblem)
                snapshot.config = settings.stats
                return snapshot
            })
        let loops: EventLoopGroup
        do {
            loops = try EventLoopGroup()
        } catch {
            producer.close(flushTimeoutMilliseconds: 0)
            throw ConfigurationError(error.reason)
        }
        do {
            listener = try Listener(
                path: configuration.socketPath, mode: configuration.socketMode, group: configuration.access.socketGroup,
                loop: loops.loops[0], logger: logger)
        } catch {
            loops.shutdown()
            producer.close(flushTimeoutMilliseconds: 0)
            throw ConfigurationError(error.reason)
        }
        if let prometheus, let address = configuration.metricsListen.flatMap(HostPort.init) {
            let context = context
            do {
                metricsEndpoint = try HTTPEndpoint(host: address.host, port: address.port, logger: logger) { path in
                    PrometheusExport.respond(
                        to: path, registry: prometheus.registry, stats: context.stats, snapshot: context.snapshot)
                }
            } catch {
                listener.stop()
                loops.shutdown()
                producer.close(flushTimeoutMilliseconds: 0)
                throw ConfigurationError("metrics.listen: \(error.reason)")
            }
            logger.info("serving /metrics and /healthz on \(address.host):\(metricsEndpoint?.port ?? 0)")
        } else {
            metricsEndpoint = nil
        }
        self.loops = loops
        startHealthChecks()
        worker.start()
        listener.start(
            accepted: { [weak self] descriptor in self?.accept(descriptor) },
            overLimit: { [weak self] descriptor in
                self?.refuse(descriptor, ProtocolError(.tooManyConnections, "the gateway is out of file descriptors"))
            })
        logger.info(
            "serving \(configuration.socketPath), publishing to \(configuration.producer.bootstrapServers), spool \(configuration.spoolPath)"
        )
    }

    /// The counters STATS reports.
    public func stats() -> StatsSnapshot {
        context.snapshot()
    }

    /// Whether every event loop and publish lane runs a block within `milliseconds` (a
    /// watchdog's liveness check: a stuck loop stops the pings).
    public func loopsRespond(within milliseconds: Int) -> Bool {
        let group = DispatchGroup()
        for loop in loops.loops {
            group.enter()
            loop.async { group.leave() }
        }
        group.enter()
        publishLane.async { group.leave() }
        return group.wait(timeout: .now() + .milliseconds(milliseconds)) == .success
    }

    /// The port of the `/metrics` listener, when there is one.
    public var metricsPort: UInt16? { metricsEndpoint?.port }

    /// The circuit breaker's state.
    public var circuitState: CircuitBreakerStateMachine.State { routing.breakerState }

    /// Runs one retry round now, on the caller's thread; returns how many records it delivered.
    @discardableResult
    public func retrySpoolNow() -> Int { worker.runRoundNow() }

    private func accept(_ descriptor: Int32) {
        let stats = context.stats
        guard var peer = Peer.of(descriptor: descriptor) else {
            refuse(descriptor, ProtocolError(.notPermitted, "peer credentials unavailable"))
            return
        }
        let live = settings.current
        let configuration = live.configuration
        guard configuration.access.admits(uid: peer.uid, gid: peer.gid) else {
            context.logger.warning("refused \(peer.identity) gid=\(peer.gid): not on the allow-list")
            refuse(descriptor, ProtocolError(.notPermitted, "uid \(peer.uid) / gid \(peer.gid) may not connect"))
            return
        }
        let maxConnections = Int(configuration.limits.maxConnections)
        guard stats.connectionsCurrent.load(ordering: .relaxed) < maxConnections else {
            refuse(descriptor, ProtocolError(.tooManyConnections, "at the limit of \(maxConnections)"))
            return
        }
        peer.topicPrefixes = configuration.access.topicPrefixes(uid: peer.uid, gid: peer.gid)
        let id = nextConnectionID.add(1, ordering: .relaxed).oldValue
        let loop = loops.nextLoop()
        let connection = Connection(descriptor: descriptor, loop: loop)
        let openSessions = openSessions
        let session = ClientSession(
            id: id, connection: connection, lane: publishLane, peer: peer, limits: live.limits, context: context
        ) { [weak self] id in
            if let self {
                connections.withLock { _ = $0.removeValue(forKey: id) }
                context.stats.connectionsCurrent.subtract(1, ordering: .relaxed)
            }
            openSessions.leave()
        }
        openSessions.enter()
        connections.withLock { $0[id] = session }
        // A reload between reading the settings and listing the session did not see it.
        let now = settings.current
        if now !== live { session.apply(now.configuration.access) }
        context.stats.connectionsTotal.add(1, ordering: .relaxed)
        context.stats.connectionsCurrent.add(1, ordering: .relaxed)
        loop.async { session.start() }
    }

    /// Answers a connection the gateway will not serve with one `ERROR`, then closes it.
    /// That `ERROR` answers no frame, so it is counted in `errors` only (PROTOCOL.md section 3.5).
    private func refuse(_ descriptor: Int32, _ error: ProtocolError) {
        context.stats.countError(error.code)
        let bytes = ErrorMessage(error).frame(requestID: 0).encoded()
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(descriptor)
    }

    /// Opens the circuit when records wait in librdkafka and nothing is delivered for a while
    /// (a broker that hangs instead of refusing connections).
    private func startHealthChecks() {
        healthTimer = healthThread.every(milliseconds: 500) { [producer, stallWatch, routing, context, settings] in
            let now = monotonicMilliseconds()
            let stallTimeout = settings.current.configuration.stallTimeoutMilliseconds
            // Gauges for backends that are not scraped through `/metrics` (which refreshes them).
            if now - context.stats.gaugesRefreshedAt.load(ordering: .relaxed) >= 5_000 {
                context.stats.gaugesRefreshedAt.store(now, ordering: .relaxed)
                context.stats.updateGauges(context.snapshot())
            }
            let waiting = producer.queueDepth
            if stallWatch.stalledFor(waiting: waiting, now: now) > stallTimeout && routing.breakerState == .closed {
                routing.forceOpen(
                    reason: "no delivery for \(stallTimeout) ms with \(waiting) records waiting")
            }
            _ = routing.allowsCalls()
        }
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
        // A reload under way finishes first; later ones see the gateway stopping and refuse.
        reloading.withLock { _ in context.markStopping() }
        listener.stop()
        let open = connections.withLock { Array($0.values) }
        for session in open { session.stopReading() }
        // Batches already handed to the publish lane are routed before Kafka is flushed.
        publishLane.sync {}
        worker.stop()
        healthTimer?.cancel()
        router.stopRestarts()
        let configuration = settings.current.configuration
        var left = producer.flush(timeoutMilliseconds: configuration.shutdownFlushTimeoutMilliseconds)
        if left > 0 && configuration.storeFailures {
            logger.warning("\(left) records not delivered in time; moving them to the spool")
            producer.purge(inFlight: true)
            left = producer.flush(timeoutMilliseconds: 5_000)
        }
        if left > 0 { logger.error("\(left) records were neither delivered nor spooled at shutdown") }
        // Every spool write queued so far is committed (and its ack sent) before closing.
        spool.waitForQueuedCommits()
        // Each connection gets SHUTTING_DOWN once its batches are settled, then closes.
        for session in open { session.finish() }
        if openSessions.wait(timeout: .now() + .seconds(2)) == .timedOut {
            logger.warning("closing connections that did not take their last replies in time")
            for session in connections.withLock({ Array($0.values) }) { session.forceClose() }
        }
        loops.shutdown()
        producer.close(flushTimeoutMilliseconds: 0)
        spool.releaseLock()
        metricsEndpoint?.stop()
        logger.info("stopped")
    }

    deinit { stop() }

    private static func makeParentDirectory(of path: String) throws {
        do {
            try SluiceSystem.makeParentDirectory(of: path, mode: 0o777)
        } catch {
            throw ConfigurationError("cannot create the spool directory \(error.path): \(error.reason)")
        }
    }
}

/// Late-bound references that close the producer ↔ routing cycle at start-up.
private final class Wiring: @unchecked Sendable {
    // `@unchecked Sendable`: every property is set once in `Gateway.init` before the
    // producer can call back, and only read afterwards. Weak: the gateway owns them, and
    // the producer's callbacks must not keep them (and their threads) alive after it.
    weak var routing: Routing?
    weak var router: Router?
    weak var worker: RetryWorker?
    /// librdkafka said every broker is down before `routing` was set.
    let allBrokersDownEarly = Atomic<Bool>(false)

    func transition(_ transition: CircuitBreakerStateMachine.Transition) {
        switch transition.to {
        case .open:
            // What waits in librdkafka goes to the spool now rather than after its timeout,
            // and the producer that comes back is one an empty or restarted cluster accepts.
            // The health timer moves OPEN to HALF_OPEN once the wait is over (within 500 ms):
            // no timer per opening, which libdispatch could not create out of descriptors.
            router?.restartProducer(reason: "the circuit opened")
        case .halfOpen, .closed: worker?.wake()
        }
    }
}
