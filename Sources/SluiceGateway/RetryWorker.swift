import Dispatch
import Foundation
import Logging
import SluiceKafka
import SluiceSpool
import SluiceSystem
import Synchronization

/// Delivers spooled records: every `retry.interval`, whenever records are spooled behind a
/// closed circuit, when the circuit closes, and as the HALF_OPEN probe.
///
/// A round walks the spool with a cursor in sequence order and keeps `window` chunks in
/// flight, so the drain runs at Kafka's speed and costs the same per record whatever the
/// backlog. Only failures a reachable broker reported cost an attempt: that record's key is
/// held (backoff 1, 5, 15, 60 minutes) while other keys go on, and after `maxAttempts` the
/// record goes to `{topic}.dlq`, or stays as `DLQ_FAILED` if that fails too. An outage ends
/// the round and costs nothing.
final class RetryWorker: Sendable {
    private let producer: KafkaProducer
    private let spool: Spool
    private let routing: Routing
    private let router: Router
    private let stats: GatewayStats
    private let logger: Logger
    private let clock: any MillisecondClock
    /// The schedule, and how long to wait for a chunk's delivery reports before giving up on
    /// the round; a reload replaces both (`reconfigure`).
    private let settings: Mutex<(retry: RetryConfiguration, reportTimeoutMilliseconds: Int)>
    private var configuration: RetryConfiguration { settings.withLock { $0.retry } }
    private var reportTimeoutMilliseconds: Int { settings.withLock { $0.reportTimeoutMilliseconds } }
    private let thread = WorkerThread(name: "sluice-retry")
    private let scheduled = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let held: HeldKeys
    /// Set in `start`, replaced when a reload changes the interval, cancelled by `stop`.
    private let timer = Mutex<RepeatingTimer?>(nil)

    /// Chunks produced and not yet settled; more would only queue up inside librdkafka.
    static let window = 4
    /// Room librdkafka's header list starts with (the stamped four plus a few; it grows).
    static let usualHeaderCount = 8

    init(
        producer: KafkaProducer, spool: Spool, routing: Routing, router: Router, held: HeldKeys, stats: GatewayStats,
        logger: Logger, clock: any MillisecondClock, configuration: RetryConfiguration, reportTimeoutMilliseconds: Int
    ) {
        self.held = held
        self.producer = producer
        self.spool = spool
        self.routing = routing
        self.router = router
        self.stats = stats
        self.logger = logger
        self.clock = clock
        settings = Mutex((configuration, reportTimeoutMilliseconds))
    }

    /// Holds the keys whose head a broker rejected before a restart, until their next retry.
    func loadRejectedKeys() throws(SpoolError) {
        for stored in try spool.rejected() {
            held.holdIfFree(
                keyHash(topic: stored.record.topic, key: stored.record.key), head: stored.id, until: stored.nextRetryAt)
        }
    }

    /// Starts the periodic rounds; the first runs at once (records left by a previous run).
    func start() {
        schedule(every: configuration.intervalMilliseconds, after: 0)
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        timer.withLock { $0?.cancel() }
        thread.sync {}
    }

    /// Applies a reloaded schedule: backoffs and attempts from the next failure, the interval at once.
    func reconfigure(_ retry: RetryConfiguration, reportTimeoutMilliseconds: Int) {
        let old = settings.withLock { settings in
            defer { settings = (retry, reportTimeoutMilliseconds) }
            return settings.retry
        }
        if old.intervalMilliseconds != retry.intervalMilliseconds {
            schedule(every: retry.intervalMilliseconds, after: retry.intervalMilliseconds)
        }
    }

    private func schedule(every interval: Int64, after delay: Int64) {
        timer.withLock { timer in
            guard !stopped.load(ordering: .acquiring) else { return }
            timer?.cancel()
            timer = thread.every(milliseconds: interval, after: delay) { [weak self] in self?.wake() }
        }
    }

    /// Asks for a round soon; calls while one is waiting to start are merged.
    func wake() {
        guard !stopped.load(ordering: .acquiring), !scheduled.exchange(true, ordering: .acquiringAndReleasing) else {
            return
        }
        thread.async { [self] in
            scheduled.store(false, ordering: .releasing)
            runRound()
        }
    }

    /// Runs one round now on the caller's thread (tests); returns records delivered.
    @discardableResult
    func runRoundNow() -> Int {
        thread.sync { runRound() }
    }

    @discardableResult
    private func runRound() -> Int {
        // During a producer restart the spool may still miss records the old producer held;
        // the restart wakes the worker when it is done.
        guard !stopped.load(ordering: .acquiring), !router.isRestartingProducer, routing.allowsCalls() else {
            return 0
        }
        // Operator commands in another process (replay, purge) change what is pending.
        do { try spool.recountIfChangedElsewhere() } catch { logger.error("retry: cannot count the spool: \(error)") }
        if routing.breakerState == .halfOpen && !producer.brokerAnswers(timeoutMilliseconds: 2_000) {
            routing.forceOpen(reason: "probe: no broker answered within 2 s")
            return 0
        }
        var delivered = 0
        var cursor: Int64 = 0
        var inFlight: [Chunk] = []
        /// Held keys retried in this round: one record each, the rest wait for the next round.
        var probing: Set<UInt64> = []
        var outage = false
        // Read once: a reload during the round applies from the next one.
        let batchSize = configuration.batchSize
        reading: while !stopped.load(ordering: .acquiring) && !outage {
            let page: PendingPage
            do {
                page = try spool.pending(after: cursor, limit: batchSize)
            } catch {
                logger.error("retry: cannot read the spool: \(error)")
                break
            }
            if page.entries.isEmpty || router.isRestartingProducer { break }
            cursor = page.entries[page.entries.count - 1].id
            let now = clock.now()
            let hashes = page.bytes.withUnsafeBytes { bytes in
                page.entries.map { entry in
                    page.topics[entry.topic].utf8.withContiguousStorageIfAvailable { topic in
                        keyHash(
                            topic: UnsafeRawBufferPointer(topic),
                            key: UnsafeRawBufferPointer(rebasing: bytes[entry.key]))
                    } ?? keyHash(topic: page.topics[entry.topic], key: Array(bytes[entry.key]))
                }
            }
            let sendable = held.withKeys { held -> [Int] in
                guard !held.isEmpty || !probing.isEmpty else { return Array(page.entries.indices) }
                return page.entries.indices.filter { index in
                    let hash = hashes[index]
                    if probing.contains(hash) { return false }
                    guard let key = held[hash] else { return true }
                    return key.retryAt <= now && probing.insert(hash).inserted
                }
            }
            if sendable.count < page.entries.count && !park(page, except: sendable) { break }
            if !sendable.isEmpty { inFlight.append(produce(page, sendable, hashes: hashes)) }
            // A short read is the log's tail: settle everything before looking for more.
            let tail = page.entries.count < batchSize
            while inFlight.count >= Self.window || (tail && !inFlight.isEmpty) {
                let (sent, failed) = settle(inFlight.removeFirst())
                delivered += sent
                if failed {
                    outage = true
                    continue reading
                }
            }
        }
        for chunk in inFlight { delivered += settle(chunk).delivered }
        if delivered > 0 { logger.info("retry: delivered \(delivered) spooled records") }
        return delivered
    }

    /// Moves the page's log records that this round passes by (their key is held) to the
    /// spool's table, so the log behind them can go; false if the spool failed.
    private func park(_ page: PendingPage, except sent: [Int]) -> Bool {
        var sending = sent.makeIterator()
        var next = sending.next()
        var passed: [Int64] = []
        for (index, entry) in page.entries.enumerated() {
            if index == next {
                next = sending.next()
            } else if entry.inLog {
                passed.append(entry.id)
            }
        }
        do {
            try spool.park(passed)
            return true
        } catch {
            logger.error("retry: cannot set aside the records of held keys: \(error)")
            return false
        }
    }

    /// Records produced together, waiting for their delivery reports.
    private struct Chunk {
        var page: PendingPage
        /// The entries of `page` produced, in order; report `i` is about `page.entries[indices[i]]`.
        var indices: [Int]
        /// `keyHash` of each entry of `page`.
        var hashes: [UInt64]
        var batch: RetryBatch
        var done: DispatchSemaphore
    }

    private func produce(_ page: PendingPage, _ indices: [Int], hashes: [UInt64]) -> Chunk {
        let done = DispatchSemaphore(value: 0)
        let batch = RetryBatch(recordCount: indices.count) { done.signal() }
        let session = producer.session()
        page.bytes.withUnsafeBytes { bytes in
            for (position, index) in indices.enumerated() {
                let entry = page.entries[index]
                var topic = page.topics[entry.topic]
                topic.withUTF8 { topic in
                    produce(
                        topic: UnsafeRawBufferPointer(topic), key: UnsafeRawBufferPointer(rebasing: bytes[entry.key]),
                        value: UnsafeRawBufferPointer(rebasing: bytes[entry.value]), timestamp: entry.timestamp,
                        session: session, opaque: batch.opaque(forRecord: position), batch: batch, index: position
                    ) { writer in
                        page.forEachHeader(of: entry) { writer.add(name: $0, value: $1) }
                    }
                }
            }
        }
        return Chunk(page: page, indices: indices, hashes: hashes, batch: batch, done: done)
    }

    /// Waits for a chunk's reports, deletes what Kafka took, and books the rest; returns
    /// (delivered, outage seen).
    private func settle(_ chunk: Chunk) -> (delivered: Int, outage: Bool) {
        wait(for: chunk.done)
        var resolved = SpoolRemoval()
        var unspooled: [UInt64: Int] = [:]
        var releasable: [(hash: UInt64, id: Int64)] = []
        let anyHeld = !held.isEmpty
        var outage = false
        var failures = 0
        for (position, outcome) in chunk.batch.results.enumerated() {
            let index = chunk.indices[position]
            let entry = chunk.page.entries[index]
            switch outcome {
            case .delivered:
                resolved.add(id: entry.id, topic: chunk.page.topics[entry.topic], size: entry.size)
                unspooled[chunk.hashes[index], default: 0] += 1
                if anyHeld { releasable.append((chunk.hashes[index], entry.id)) }
            case .failed(let error, _) where !error.isBrokerReported:
                outage = true
                if !error.isPurged { failures += 1 }
                if error.isProducerStateError { router.restartProducer(reason: error.reason) }
            case .failed(let error, _):
                do {
                    if let stored = try spool.record(id: entry.id) { settleRejected(stored, error: error) }
                } catch {
                    logger.error("retry: cannot read rejected record \(entry.id): \(error)")
                }
            case nil:
                outage = true
            }
        }
        routing.record(successes: resolved.ids.count, failures: failures)
        do {
            try spool.remove(resolved)
        } catch {
            logger.error("retry: delivered records could not be removed (they will be sent again): \(error)")
            return (0, true)
        }
        if anyHeld { held.release(delivered: releasable) }
        routing.unspool(unspooled)
        let perTopic = resolved.perTopic
        stats.countPublished(topics: Array(perTopic.keys), counts: Array(perTopic.values), fromSpool: true)
        return (resolved.ids.count, outage)
    }

    /// Waits for delivery reports, in slices so that a shutdown does not sit out a whole
    /// delivery timeout.
    private func wait(for done: DispatchSemaphore) {
        let deadline = DispatchTime.now() + .milliseconds(reportTimeoutMilliseconds)
        while done.wait(timeout: min(deadline, .now() + .milliseconds(100))) == .timedOut {
            if stopped.load(ordering: .acquiring) || DispatchTime.now() >= deadline {
                logger.warning("retry: delivery reports did not arrive in time; the round stops")
                return
            }
        }
    }

    /// A broker rejected the record: count the attempt and hold its key, or dead-letter it.
    private func settleRejected(_ stored: StoredRecord, error: KafkaError) {
        let configuration = self.configuration
        // A record the broker refuses as too large never gets through: dead-letter it now.
        let attempts =
            error.isRecordTooLarge ? max(stored.attempts + 1, configuration.maxAttempts) : stored.attempts + 1
        let hash = keyHash(topic: stored.record.topic, key: stored.record.key)
        do {
            if attempts < configuration.maxAttempts {
                let next = clock.now() + configuration.backoff(afterAttempts: attempts)
                try spool.recordFailure(id: stored.id, attempts: attempts, nextRetryAt: next, error: error.reason)
                held.hold(hash, head: stored.id, until: next)
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
            switch produceAndWait(record) {
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
                held.hold(hash, head: stored.id, until: clock.now())
                return
            }
            // The next record of the key is its head now, with attempts of its own.
            held.release(hash)
            routing.unspool([hash: 1])
        } catch {
            logger.error("retry: cannot update record \(stored.id): \(error)")
        }
    }

    /// Produces one record and waits for its report (the dead-letter path); nil if none came.
    private func produceAndWait(_ record: SpoolRecord) -> DeliveryOutcome? {
        let done = DispatchSemaphore(value: 0)
        let batch = RetryBatch(recordCount: 1) { done.signal() }
        var topic = record.topic
        topic.withUTF8 { topic in
            record.key.withUnsafeBytes { key in
                record.value.withUnsafeBytes { value in
                    produce(
                        topic: UnsafeRawBufferPointer(topic), key: key, value: value, timestamp: record.timestamp,
                        session: producer.session(), opaque: batch.opaque(forRecord: 0), batch: batch, index: 0
                    ) { writer in
                        for header in record.headers {
                            var name = header.name
                            name.withUTF8 { name in
                                header.value.withUnsafeBytes {
                                    writer.add(name: UnsafeRawBufferPointer(name), value: $0)
                                }
                            }
                        }
                    }
                }
            }
        }
        wait(for: done)
        return batch.results[0]
    }

    /// Queues one record, waiting while librdkafka's queue is full; a failure to queue is
    /// reported to `batch` like a delivery failure.
    private func produce(
        topic: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, timestamp: Int64,
        session: ProducerSession, opaque: UnsafeMutableRawPointer, batch: RetryBatch, index: Int,
        headers: (HeaderWriter) -> Void
    ) {
        var session = session
        while true {
            do {
                try session.produce(
                    topic: topic, key: key, value: value, timestamp: timestamp, headerCount: Self.usualHeaderCount,
                    opaque: opaque,
                    headers: headers)
                return
            } catch  where error.code == .queueFull {
                producer.waitForQueueSpace()
                session = producer.session()
            } catch {
                let message = FailedMessage(
                    topic: String(decoding: topic, as: UTF8.self), key: Array(key), value: Array(value), headers: [],
                    timestamp: timestamp)
                batch.delivered(record: index, outcome: .failed(error, message))
                return
            }
        }
    }
}
