import Dispatch
import Foundation
import Logging
import SluiceKafka
import SluiceSpool
import Synchronization

/// Delivers spooled records: every `retry.interval`, and at once when the circuit closes.
///
/// Drains due records in sequence order per key, in whole batches. Only failures a
/// reachable broker reported cost an attempt (with backoff 1, 5, 15, 60 minutes); after
/// `maxAttempts` the record goes to `{topic}.dlq`, or stays as `DLQ_FAILED` if that fails too.
/// An outage stops the round and costs nothing.
final class RetryWorker: Sendable {
    private let producer: KafkaProducer
    private let spool: Spool
    private let routing: Routing
    private let router: Router
    private let stats: GatewayStats
    private let logger: Logger
    private let clock: any MillisecondClock
    private let configuration: RetryConfiguration
    /// How long to wait for a batch's delivery reports before giving up on the round.
    private let reportTimeoutMilliseconds: Int
    private let queue = DispatchQueue(label: "sluice.retry")
    private let scheduled = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Set once in `start`, then only cancelled (an inactive source must not be released).
    nonisolated(unsafe) private var timer: DispatchSourceTimer?

    init(
        producer: KafkaProducer, spool: Spool, routing: Routing, router: Router, stats: GatewayStats, logger: Logger,
        clock: any MillisecondClock, configuration: RetryConfiguration, reportTimeoutMilliseconds: Int
    ) {
        self.producer = producer
        self.spool = spool
        self.routing = routing
        self.router = router
        self.stats = stats
        self.logger = logger
        self.clock = clock
        self.configuration = configuration
        self.reportTimeoutMilliseconds = reportTimeoutMilliseconds
    }

    /// Starts the periodic rounds; the first runs at once (records left by a previous run).
    func start() {
        let interval = DispatchTimeInterval.milliseconds(Int(configuration.intervalMilliseconds))
        let timer = DispatchSource.makeTimerSource(queue: .global())
        self.timer = timer
        timer.schedule(deadline: .now(), repeating: interval, leeway: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.wake() }
        timer.activate()
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        timer?.cancel()
        queue.sync {}
    }

    /// Asks for a round soon; calls while one is waiting to start are merged.
    func wake() {
        guard !stopped.load(ordering: .acquiring), !scheduled.exchange(true, ordering: .acquiringAndReleasing) else {
            return
        }
        queue.async { [self] in
            scheduled.store(false, ordering: .releasing)
            runRound()
        }
    }

    /// Runs one round now on the caller's thread (tests); returns records delivered.
    @discardableResult
    func runRoundNow() -> Int {
        queue.sync { runRound() }
    }

    @discardableResult
    private func runRound() -> Int {
        guard !stopped.load(ordering: .acquiring), routing.allowsCalls() else { return 0 }
        // Records sent before the last purge may still fail and join the spool; until they
        // are settled, later records of their keys must not be delivered.
        if router.isSettlingAfterPurge {
            queue.asyncAfter(deadline: .now() + .milliseconds(200)) { [weak self] in self?.wake() }
            return 0
        }
        var delivered = 0
        while !stopped.load(ordering: .acquiring) {
            let due: [StoredRecord]
            do {
                due = try spool.due(now: clock.now(), limit: configuration.batchSize)
            } catch {
                logger.error("retry: cannot read the spool: \(error)")
                return delivered
            }
            if due.isEmpty { break }
            let (sent, outage) = send(due)
            delivered += sent
            if outage { break }
        }
        if delivered > 0 { logger.info("retry: delivered \(delivered) spooled records") }
        return delivered
    }

    /// Sends one batch of due records and settles each; returns (delivered, outage seen).
    private func send(_ records: [StoredRecord]) -> (Int, Bool) {
        let outcomes = produceAndWait(records.map { ($0.record.topic, $0.record) })
        var resolved: [Int64] = []
        var resolvedPerTopic: [String: Int] = [:]
        var outage = false
        var successes = 0
        var failures = 0
        for (stored, outcome) in zip(records, outcomes) {
            switch outcome {
            case .delivered:
                resolved.append(stored.id)
                resolvedPerTopic[stored.record.topic, default: 0] += 1
                successes += 1
            case .failed(let error, _) where !error.isBrokerReported:
                outage = true
                if !error.isPurged { failures += 1 }
            case .failed(let error, _):
                settleRejected(stored, error: error)
            case nil:
                outage = true
            }
        }
        routing.record(successes: successes, failures: failures)
        do {
            try spool.markResolved(resolved)
        } catch {
            logger.error("retry: delivered records could not be marked resolved (they will be sent again): \(error)")
            return (0, true)
        }
        for stored in records where resolved.contains(stored.id) {
            routing.unspool(keyHash: keyHash(topic: stored.record.topic, key: stored.record.key))
        }
        let names = Array(resolvedPerTopic.keys)
        stats.countPublished(topics: names, counts: names.map { resolvedPerTopic[$0]! }, fromSpool: true)
        return (resolved.count, outage)
    }

    /// A broker rejected the record: count the attempt, back off, or dead-letter it.
    private func settleRejected(_ stored: StoredRecord, error: KafkaError) {
        let attempts = stored.attempts + 1
        do {
            if attempts < configuration.maxAttempts {
                let next = clock.now() + configuration.backoff(afterAttempts: attempts)
                try spool.recordFailure(id: stored.id, attempts: attempts, nextRetryAt: next, error: error.reason)
                logger.warning("retry: record \(stored.id) rejected (\(error.reason)), attempt \(attempts)")
                return
            }
            var record = stored.record
            record.topic += ".dlq"
            record.headers += [
                SpoolHeader(name: "dlq-original-topic", value: Array(stored.record.topic.utf8)),
                SpoolHeader(name: "dlq-original-key", value: stored.record.key),
                SpoolHeader(name: "dlq-error", value: Array(error.reason.utf8)),
                SpoolHeader(name: "dlq-attempts", value: Array(String(attempts).utf8)),
                SpoolHeader(name: "dlq-first-failure-ms", value: Array(String(stored.createdAt).utf8)),
                SpoolHeader(name: "dlq-client", value: Array(stored.record.client.utf8)),
            ]
            let outcome = produceAndWait([(record.topic, record)]).first ?? nil
            switch outcome {
            case .delivered:
                try spool.markDeadLettered(id: stored.id, status: .dlq, attempts: attempts, error: error.reason)
                stats.dlqSent.increment()
                logger.error("retry: record \(stored.id) sent to \(record.topic) after \(attempts) attempts")
            case .failed(let dlqError, _) where dlqError.isBrokerReported:
                try spool.markDeadLettered(
                    id: stored.id, status: .dlqFailed, attempts: attempts,
                    error: "\(error.reason); DLQ: \(dlqError.reason)")
                logger.error("retry: record \(stored.id) could not be dead-lettered; kept as DLQ_FAILED")
            case .failed, nil:
                // Kafka went away meanwhile: the record stays PENDING and is dead-lettered next round.
                try spool.recordFailure(
                    id: stored.id, attempts: attempts, nextRetryAt: clock.now(), error: error.reason)
                return
            }
            routing.unspool(keyHash: keyHash(topic: stored.record.topic, key: stored.record.key))
        } catch {
            logger.error("retry: cannot update record \(stored.id): \(error)")
        }
    }

    /// Produces records and waits (bounded) for their delivery reports; nil where none came.
    private func produceAndWait(_ records: [(String, SpoolRecord)]) -> [DeliveryOutcome?] {
        let done = DispatchSemaphore(value: 0)
        let batch = RetryBatch(recordCount: records.count) { done.signal() }
        let session = producer.session()
        for (index, (topic, record)) in records.enumerated() {
            produce(
                topic: topic, record: record, session: session, opaque: batch.opaque(forRecord: index), batch: batch,
                index: index)
        }
        // Waits in slices so that a shutdown does not sit out a whole delivery timeout.
        let deadline = DispatchTime.now() + .milliseconds(reportTimeoutMilliseconds)
        while done.wait(timeout: min(deadline, .now() + .milliseconds(100))) == .timedOut {
            if stopped.load(ordering: .acquiring) || DispatchTime.now() >= deadline {
                logger.warning("retry: delivery reports did not arrive in time; the round stops")
                break
            }
        }
        return batch.results
    }

    private func produce(
        topic: String, record: SpoolRecord, session: ProducerSession, opaque: UnsafeMutableRawPointer,
        batch: RetryBatch, index: Int
    ) {
        let topicBytes = Array(topic.utf8)
        while true {
            do {
                try topicBytes.withUnsafeBytes { topicBuffer in
                    try record.key.withUnsafeBytes { key in
                        try record.value.withUnsafeBytes { value in
                            try session.produce(
                                topic: topicBuffer, key: key, value: value, timestamp: record.timestamp,
                                headerCount: record.headers.count, opaque: opaque
                            ) { writer in
                                for header in record.headers {
                                    Array(header.name.utf8).withUnsafeBytes { name in
                                        header.value.withUnsafeBytes { writer.add(name: name, value: $0) }
                                    }
                                }
                            }
                        }
                    }
                }
                return
            } catch let error as KafkaError where error.code == .queueFull {
                producer.waitForQueueSpace()
            } catch {
                let message = FailedMessage(
                    topic: topic, key: record.key, value: record.value, headers: [], timestamp: record.timestamp)
                let failure = error as? KafkaError ?? KafkaError(.produce, reason: "\(error)")
                batch.delivered(record: index, outcome: .failed(failure, message))
                return
            }
        }
    }
}
