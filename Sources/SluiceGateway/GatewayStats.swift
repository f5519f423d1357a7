import Foundation
import Metrics
import SluiceProtocol
import SluiceSpool
import SluiceSystem
import Synchronization

/// The gateway's counters; cheap to bump from any thread. Also feeds swift-metrics under
/// the names operators know (`kafka.events.published{status}` and friends).
public final class GatewayStats: Sendable {
    let started = Date()
    let connectionsCurrent = Atomic<Int>(0)
    let connectionsTotal = Atomic<Int>(0)
    let framesReceived = Atomic<Int>(0)
    let framesRejected = Atomic<Int>(0)
    let recordsReceived = Atomic<Int>(0)
    let recordsInvalid = Atomic<Int>(0)
    let recordsPublished = Atomic<Int>(0)
    let recordsFailed = Atomic<Int>(0)
    let circuitOpenings = Atomic<Int>(0)
    /// The clock's time (ms) when the circuit last left CLOSED; 0 while it is CLOSED.
    let circuitNotClosedSince = Atomic<Int64>(0)
    /// Count of each error code sent, in an `ERROR` frame or as a per-record code.
    private let errors = Mutex<[ErrorCode: Int]>([:])
    private let topics = Mutex<[String: TopicCounters]>([:])
    /// Records per second into the spool and out of it to Kafka.
    private let spoolInflow = Mutex(RateMeter())
    private let spoolDrain = Mutex(RateMeter())

    struct TopicCounters {
        var received = 0
        var published = 0
        var dropped = 0
        var rejected = 0
    }

    let publishedSuccess: Counter
    let publishedError: Counter
    let publishLatency: Timer
    let circuitOpen: Counter
    let storedForRetry: Counter
    let retrySuccess: Counter
    let dlqSent: Counter
    let spoolPending: Gauge
    let spoolOldestPendingAge: Gauge
    let spoolBytes: Gauge
    let breakerStates: [(CircuitBreakerStateMachine.State, Gauge)]
    let connections: Gauge
    let producerQueueDepth: Gauge
    let healthy: Gauge
    let reloads: ReloadMetrics
    /// Uptime (ms) of the last gauge refresh by the health timer.
    let gaugesRefreshedAt = Atomic<Int64>(0)
    /// Topic contract violations per topic and rule (`Contracts/ContractStats.swift`).
    let contracts: ContractStats

    /// Counters report to `metrics`, by default the process's bootstrapped `MetricsSystem`.
    init(metrics: any MetricsFactory = MetricsSystem.factory) {
        publishedSuccess = Counter(
            label: "kafka.events.published", dimensions: [("status", "success")], factory: metrics)
        publishedError = Counter(label: "kafka.events.published", dimensions: [("status", "error")], factory: metrics)
        publishLatency = Timer(label: "kafka.publish.latency", dimensions: [], factory: metrics)
        circuitOpen = Counter(label: "kafka.circuit_breaker.open", factory: metrics)
        storedForRetry = Counter(label: "kafka.events.stored_for_retry", factory: metrics)
        retrySuccess = Counter(label: "kafka.retry.success", factory: metrics)
        dlqSent = Counter(label: "kafka.dlq.sent", factory: metrics)
        spoolPending = Gauge(label: "sluice.spool.pending", factory: metrics)
        spoolOldestPendingAge = Gauge(label: "sluice.spool.oldest_pending_age_seconds", factory: metrics)
        spoolBytes = Gauge(label: "sluice.spool.bytes", factory: metrics)
        breakerStates = [CircuitBreakerStateMachine.State.closed, .open, .halfOpen].map { state in
            (
                state,
                Gauge(label: "kafka.circuit_breaker.state", dimensions: [("state", state.rawValue)], factory: metrics)
            )
        }
        connections = Gauge(label: "sluice.connections", factory: metrics)
        producerQueueDepth = Gauge(label: "kafka.producer.queue_depth", factory: metrics)
        healthy = Gauge(label: "sluice.healthy", factory: metrics)
        contracts = ContractStats(metrics: metrics)
        reloads = ReloadMetrics(factory: metrics)
    }

    /// Sets the gauges from a snapshot: spool depth and age, breaker state (1 for the current
    /// one), connections, librdkafka's queue and health.
    func updateGauges(_ snapshot: StatsSnapshot) {
        spoolPending.record(snapshot.retry.pending)
        spoolOldestPendingAge.record(snapshot.retry.oldestPendingAgeSeconds ?? 0)
        spoolBytes.record(snapshot.retry.spoolBytes)
        for (state, gauge) in breakerStates {
            gauge.record(state.rawValue == snapshot.publisher.circuitBreakerState ? 1 : 0)
        }
        connections.record(snapshot.connections.current)
        producerQueueDepth.record(snapshot.kafka.queueDepth)
        healthy.record(snapshot.health.healthy ? 1 : 0)
        reloads.update(snapshot.config)
    }

    func countReload(applied: Bool) {
        (applied ? reloads.applied : reloads.failed).increment()
    }

    func countError(_ code: ErrorCode, by amount: Int = 1) {
        errors.withLock { $0[code, default: 0] += amount }
    }

    /// Every record of `batch` with a valid topic name is received; those with a code are also rejected.
    func countReceived(_ batch: PublishBatch, topics names: [String], topicOfRecord: [UInt16]) {
        var received = [Int](repeating: 0, count: names.count)
        var rejected = [Int](repeating: 0, count: names.count)
        for (index, record) in batch.records.enumerated() where record.error != .invalidTopic {
            received[Int(topicOfRecord[index])] += 1
            if record.error != nil { rejected[Int(topicOfRecord[index])] += 1 }
        }
        topics.withLock { table in
            for index in names.indices where received[index] > 0 {
                table[names[index], default: .init()].received += received[index]
                table[names[index], default: .init()].rejected += rejected[index]
            }
        }
    }

    /// A record refused after validation (the spool full, a local produce fault).
    func countRejected(topic: String) {
        topics.withLock { $0[topic, default: .init()].rejected += 1 }
    }

    /// Records that reached Kafka: directly (per batch) or from the spool.
    func countPublished(topics names: [String], counts: [Int], fromSpool: Bool = false) {
        let total = counts.reduce(0, +)
        guard total > 0 else { return }
        publishedSuccess.increment(by: Int64(total))
        recordsPublished.add(total, ordering: .relaxed)
        if fromSpool {
            retrySuccess.increment(by: Int64(total))
            spoolDrain.withLock { $0.add(total, at: monotonicMilliseconds()) }
        }
        topics.withLock { table in
            for (name, count) in zip(names, counts) where count > 0 { table[name, default: .init()].published += count }
        }
    }

    /// A record lost on purpose: `storeFailures` is off and it could not be delivered.
    func countDropped(topic: String) {
        publishedError.increment()
        topics.withLock { $0[topic, default: .init()].dropped += 1 }
    }

    func countStoredForRetry(_ count: Int) {
        storedForRetry.increment(by: Int64(count))
        spoolInflow.withLock { $0.add(count, at: monotonicMilliseconds()) }
    }

    func countTransition(to state: CircuitBreakerStateMachine.State, now: Int64) {
        if state == .open {
            circuitOpenings.add(1, ordering: .relaxed)
            circuitOpen.increment()
            _ = circuitNotClosedSince.compareExchange(
                expected: 0, desired: max(1, now), ordering: .relaxed)
        } else if state == .closed {
            circuitNotClosedSince.store(0, ordering: .relaxed)
        }
    }

    /// Everything STATS reports; `spool` counts come from the spool file.
    func snapshot(
        queueDepth: Int, brokers: String, stampedHeaders: [String] = StampedHeaders.all.names,
        circuitState: CircuitBreakerStateMachine.State, storeFailures: Bool,
        spool: [SpoolStatus: Int], spoolByTopic: [String: [SpoolStatus: Int]], oldestPendingAt: Int64?, now: Int64,
        spoolUsage: (bytes: Int64, maxBytes: Int64) = (0, 1), health: HealthConfiguration = .init(),
        stopping: Bool = false, kafkaRefusal: String? = nil
    ) -> StatsSnapshot {
        let uptime = monotonicMilliseconds()
        let notClosedSince = circuitNotClosedSince.load(ordering: .relaxed)
        let problems = health.problems(
            circuitState: circuitState, notClosedForMilliseconds: notClosedSince == 0 ? 0 : now - notClosedSince,
            spoolBytes: spoolUsage.bytes, spoolMaxBytes: spoolUsage.maxBytes, stopping: stopping,
            kafkaRefusal: kafkaRefusal)
        let drainRate = spoolDrain.withLock { $0.rate(at: uptime) }
        let inflowRate = spoolInflow.withLock { $0.rate(at: uptime) }
        let pending = spool[.pending] ?? 0
        // Time to empty at the current net rate; unknown while the backlog does not shrink.
        let secondsToEmpty: Double? =
            pending == 0 ? 0 : drainRate > inflowRate ? Double(pending) / (drainRate - inflowRate) : nil
        let errorCounts = errors.withLock { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.name, $0.value) }) }
        let counters = topics.withLock { $0 }
        var balance: [String: StatsSnapshot.TopicBalance] = [:]
        for name in Set(counters.keys).union(spoolByTopic.keys) {
            let c = counters[name] ?? .init()
            let s = spoolByTopic[name] ?? [:]
            balance[name] = .init(
                received: c.received, published: c.published, pending: s[.pending] ?? 0,
                dlq: (s[.dlq] ?? 0) + (s[.dlqFailed] ?? 0), dropped: c.dropped, rejected: c.rejected)
        }
        return StatsSnapshot(
            uptimeSeconds: Date().timeIntervalSince(started),
            connections: .init(
                current: connectionsCurrent.load(ordering: .relaxed), total: connectionsTotal.load(ordering: .relaxed)),
            frames: .init(
                received: framesReceived.load(ordering: .relaxed), rejected: framesRejected.load(ordering: .relaxed)),
            records: .init(
                received: recordsReceived.load(ordering: .relaxed), invalid: recordsInvalid.load(ordering: .relaxed),
                published: recordsPublished.load(ordering: .relaxed), failed: recordsFailed.load(ordering: .relaxed)),
            errors: errorCounts,
            kafka: .init(queueDepth: queueDepth, brokers: brokers, stampedHeaders: stampedHeaders),
            publisher: .init(
                asyncEnabled: true, storeFailures: storeFailures, circuitBreakerState: circuitState.rawValue,
                circuitOpenings: circuitOpenings.load(ordering: .relaxed), queueDepth: queueDepth, retryWorkers: 1),
            retry: .init(
                pending: pending, resolved: spool[.resolved] ?? 0, dlq: spool[.dlq] ?? 0,
                dlqFailed: spool[.dlqFailed] ?? 0,
                oldestPendingAgeSeconds: oldestPendingAt.map { max(0, Double(now - $0) / 1000) },
                drainRate: drainRate, spoolRate: inflowRate, secondsToEmpty: secondsToEmpty,
                spoolBytes: spoolUsage.bytes, spoolMaxBytes: spoolUsage.maxBytes),
            topics: balance, health: .init(healthy: problems.isEmpty, problems: problems), versions: LibraryVersions(),
            contracts: contracts.snapshot())
    }
}

/// The STATS document (PROTOCOL.md section 3.5).
public struct StatsSnapshot: Codable, Sendable, Equatable {
    public struct Connections: Codable, Sendable, Equatable {
        public var current: Int
        public var total: Int
    }

    public struct Frames: Codable, Sendable, Equatable {
        public var received: Int
        public var rejected: Int
    }

    /// Once quiet, with a spool empty at the start: received = invalid + published + failed
    /// + the spool's pending, DLQ and DLQ_FAILED records (PROTOCOL.md section 3.5).
    public struct Records: Codable, Sendable, Equatable {
        /// Records of every `PUBLISH` decoded; those of a `PUBLISH` refused with an `ERROR` are not.
        public var received: Int
        /// Records refused by a check or policy before routing (codes 20–28).
        public var invalid: Int
        /// Records acknowledged by Kafka, directly or from the spool.
        public var published: Int
        /// Records that passed the checks but were neither published nor kept (30, 31, 40, 42).
        public var failed: Int
    }

    public struct Kafka: Codable, Sendable, Equatable {
        public var queueDepth: Int
        public var brokers: String
        /// The headers stamped on every record (`kafka.stamp-headers`), in stamping order.
        public var stampedHeaders: [String]
    }

    public struct Publisher: Codable, Sendable, Equatable {
        public var asyncEnabled: Bool
        public var storeFailures: Bool
        public var circuitBreakerState: String
        public var circuitOpenings: Int
        public var queueDepth: Int
        public var retryWorkers: Int
    }

    public struct Retry: Codable, Sendable, Equatable {
        public var pending: Int
        /// Records delivered from the spool, over the spool file's life.
        public var resolved: Int
        public var dlq: Int
        public var dlqFailed: Int
        /// Age of the oldest PENDING record; absent when none is pending.
        public var oldestPendingAgeSeconds: Double?
        /// Records per second delivered from the spool, over the last 5 seconds.
        public var drainRate: Double
        /// Records per second written to the spool, over the last 5 seconds.
        public var spoolRate: Double
        /// Estimated seconds until nothing is pending; absent while the backlog does not shrink.
        public var secondsToEmpty: Double?
        /// Bytes of undelivered records in the spool.
        public var spoolBytes: Int64
        /// The spool's cap (`spool.max-bytes`).
        public var spoolMaxBytes: Int64
    }

    /// Whether the gateway is healthy, and if not why (`/healthz`, `sluice stats` exit status).
    public struct Health: Codable, Sendable, Equatable {
        public var healthy: Bool
        public var problems: [String]
    }

    /// Per topic, once quiet: received = published + pending + dlq + dropped + rejected.
    public struct TopicBalance: Codable, Sendable, Equatable {
        public var received: Int
        public var published: Int
        public var pending: Int
        public var dlq: Int
        public var dropped: Int
        /// Records refused with a per-record code from the gateway (never published nor kept).
        public var rejected: Int
    }

    public var uptimeSeconds: Double
    public var connections: Connections
    public var frames: Frames
    public var records: Records
    public var errors: [String: Int]
    public var kafka: Kafka
    public var publisher: Publisher
    public var retry: Retry
    public var topics: [String: TopicBalance]
    public var health: Health
    public var versions: LibraryVersions
    /// Topic contract violations (absent from gateways before contracts).
    public var contracts: Contracts?
    /// The configuration's generation and reloads; set by the gateway.
    public var config: Config?

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}

/// Events per second over the last few whole seconds, in one-second buckets.
struct RateMeter {
    private static let seconds = 5
    private var buckets = [Int](repeating: 0, count: seconds + 1)
    private var current: Int64 = 0

    mutating func add(_ count: Int, at milliseconds: Int64) {
        advance(to: milliseconds / 1000)
        buckets[Int(current % Int64(buckets.count))] += count
    }

    /// The mean over the `seconds` whole seconds before the current one.
    mutating func rate(at milliseconds: Int64) -> Double {
        advance(to: milliseconds / 1000)
        let total = buckets.indices.reduce(0) { $0 + ($1 == Int(current % Int64(buckets.count)) ? 0 : buckets[$1]) }
        return Double(total) / Double(Self.seconds)
    }

    private mutating func advance(to second: Int64) {
        guard second > current else { return }
        for skipped in (current + 1)...min(second, current + Int64(buckets.count)) {
            buckets[Int(skipped % Int64(buckets.count))] = 0
        }
        current = second
    }
}
