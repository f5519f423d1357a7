import Foundation
import Logging
import SluiceKafka
import SluiceProtocol
import SluiceSpool
import SluiceSystem
import Synchronization

/// Carries out the route (`Route`) of each record of a client batch — Kafka, the spool or a
/// refusal — and tracks the batch until its `ACK`.
///
/// An outage failure restarts the producer, so that what it still holds is spooled now, in
/// routing order, instead of after the message timeout.
final class Router: Sendable {
    private let producer: KafkaProducer
    private let spool: Spool
    private let routing: Routing
    private let stats: GatewayStats
    private let logger: Logger
    private let clock: any MillisecondClock
    /// Where the stamped headers, whether failures are stored and the retry schedule come
    /// from; read once per batch (or failed delivery), so a reload applies from the next one.
    private let settings: SettingsBox
    private let held: HeldKeys
    /// Called when a record was spooled while the circuit is not OPEN, so the worker retries soon.
    private let wakeRetryWorker: @Sendable () -> Void
    /// Set while the producer is being replaced; see `restartProducer`.
    private let restarting = Atomic<Bool>(false)
    private let restartsStopped = Atomic<Bool>(false)
    private let restartThread = WorkerThread(name: "sluice-restart")

    init(
        producer: KafkaProducer, spool: Spool, routing: Routing, stats: GatewayStats, logger: Logger,
        clock: any MillisecondClock, settings: SettingsBox, held: HeldKeys,
        wakeRetryWorker: @escaping @Sendable () -> Void
    ) {
        self.held = held
        self.settings = settings
        self.producer = producer
        self.spool = spool
        self.routing = routing
        self.stats = stats
        self.logger = logger
        self.clock = clock
        self.wakeRetryWorker = wakeRetryWorker
    }

    /// Publishes every valid record of `batch`; `onAck` receives the `ACK` when the ack level
    /// says so. Blocks while librdkafka's queue is full, which stops the caller's reads.
    /// `onAck` may come before `onSettled` (ack level `accepted`); `onSettled` comes once
    /// every record is in Kafka, in the spool or failed.
    func publish(
        _ batch: PublishBatch, topics batchTopics: BatchTopics, requestID: UInt32, client: String,
        publisher: StampedHeaders.Publisher,
        eventIDs: inout EventIDGenerator,
        onAck: @escaping @Sendable (UInt32, Ack) -> Void, onSettled: @escaping @Sendable () -> Void
    ) {
        let (topics, topicOfRecord) = (batchTopics.names, batchTopics.ofRecord)
        // Event ids are fixed before routing, so a record keeps its id wherever it goes.
        var ids = batch.records.map { $0.eventID }
        for index in ids.indices where ids[index].isZero { ids[index] = EventID.random(using: &eventIDs) }
        let pending = PendingBatch(
            requestID: requestID, ackLevel: batch.ackLevel, topics: topics, topicOfRecord: topicOfRecord,
            eventIDs: ids,
            onFailure: { [self] batch, index, error, message in failed(batch, index, error, message) },
            client: client,
            onComplete: { [stats, routing] batch, ack, publishedPerTopic in
                stats.countPublished(topics: batch.topics, counts: publishedPerTopic)
                stats.publishLatency.recordNanoseconds(
                    Int64(DispatchTime.now().uptimeNanoseconds - batch.startedAt.uptimeNanoseconds))
                routing.record(successes: publishedPerTopic.reduce(0, +), failures: batch.outageFailureCount)
                if let ack { onAck(batch.requestID, ack) }
                onSettled()
            })
        stats.recordsReceived.add(batch.records.count, ordering: .relaxed)
        // Counted before any record can resolve, so a client that has its ACK sees them in STATS.
        stats.countReceived(batch, topics: topics, topicOfRecord: topicOfRecord)
        let now = clock.now()
        let configuration = settings.current.configuration
        let stamped = configuration.stampHeaders
        let storeFailures = configuration.storeFailures

        batch.payload.withUnsafeBytes { bytes in
            let session = producer.session()
            var next = 0
            while next < batch.records.count {
                let stoppedAt: Int? = routing.withState { state in
                    if next == 0 {
                        pending.sequenceBase = state.nextSequence
                        state.nextSequence += Int64(batch.records.count)
                    }
                    let (allowed, transition) = state.breaker.allowsCalls(now: clock.now())
                    var toSpool = Spooling()
                    for index in next..<batch.records.count {
                        let record = batch.records[index]
                        // The key's hash only matters while keys are spooled or the record may be.
                        var hash: UInt64?
                        if record.error == nil && (!allowed || !state.spooledKeys.isEmpty) {
                            hash = keyHash(of: record, in: bytes)
                        }
                        var route = Route.decide(
                            invalid: record.error, circuitAllowsCalls: allowed,
                            keySpooled: hash.map { state.spooledKeys[$0] != nil } ?? false,
                            storeFailures: storeFailures)
                        if case .kafka = route {
                            let timestamp = record.timestamp == 0 ? now : record.timestamp
                            let outcome = produce(
                                record, of: batch, bytes: bytes, eventID: ids[index], timestamp: timestamp,
                                stamped: stamped, publisher: publisher, session: session,
                                opaque: pending.opaque(forRecord: index))
                            guard let final = Route.after(outcome, storeFailures: storeFailures) else {
                                // Records of this pass routed to the spool still go there, in order.
                                if !toSpool.isEmpty { enqueue(toSpool, for: pending) }
                                return (index, transition)
                            }
                            route = final
                        }
                        switch route {
                        case .kafka: continue
                        case .spool(let reason):
                            let hash = hash ?? keyHash(of: record, in: bytes)
                            state.spooledKeys[hash, default: 0] += 1
                            toSpool.add(
                                record, of: batch, bytes: bytes, eventID: ids[index], now: now, stamped: stamped,
                                publisher: publisher, pending: pending, index: index,
                                topic: topics[Int(topicOfRecord[index])], hash: hash, reason: reason.text)
                        case .refuse(let refusal): refuse(record: index, refusal, of: pending)
                        }
                    }
                    if !toSpool.isEmpty { enqueue(toSpool, for: pending) }
                    return (nil, transition)
                }
                guard let stoppedAt else { break }
                producer.waitForQueueSpace()
                next = stoppedAt
            }
        }
        if let ack = pending.acceptedAll() { onAck(requestID, ack) }
    }

    /// Resolves a refused record with its error, counted where operators look for it.
    private func refuse(record index: Int, _ refusal: Refusal, of pending: PendingBatch) {
        // PROTOCOL.md section 3.5: a check's code is `invalid`; a record that passed them but is
        // neither published nor kept is `failed`, counted here once, whatever the path.
        switch refusal {
        case .invalid: stats.recordsInvalid.add(1, ordering: .relaxed)
        case .producerFailed, .spoolFailed:
            stats.recordsFailed.add(1, ordering: .relaxed)
            stats.countRejected(topic: pending.topics[Int(pending.topicOfRecord[index])])
        case .notStored:
            stats.recordsFailed.add(1, ordering: .relaxed)
            stats.countDropped(topic: pending.topics[Int(pending.topicOfRecord[index])])
        }
        stats.countError(refusal.code)
        pending.resolve(record: index, failure: refusal.code)
    }

    private func produce(
        _ record: RecordView, of batch: PublishBatch, bytes: UnsafeRawBufferPointer, eventID: EventID, timestamp: Int64,
        stamped: StampedHeaders, publisher: StampedHeaders.Publisher, session: ProducerSession,
        opaque: UnsafeMutableRawPointer
    ) -> ProduceOutcome {
        do {
            try session.produce(
                topic: UnsafeRawBufferPointer(rebasing: bytes[record.topic]),
                key: UnsafeRawBufferPointer(rebasing: bytes[record.key]),
                value: UnsafeRawBufferPointer(rebasing: bytes[record.value]),
                timestamp: timestamp, headerCount: record.headerCount + stamped.count, opaque: opaque
            ) { headers in
                stamped.addHeaders(of: record, in: batch, bytes: bytes, eventID: eventID, publisher: publisher) {
                    headers.add(name: $0, value: $1)
                }
            }
            return .queued
        } catch  where error.code == .queueFull {
            return .queueFull
        } catch  where error.isRecordTooLarge {
            logger.error("produce refused a record as too large: \(error)")
            return .tooLarge
        } catch  where error.isProducerStateError {
            restartProducer(reason: error.reason)
            return .unavailable
        } catch {
            logger.error("produce failed: \(error)")
            return .failed
        }
    }

    /// Hands records to the spool (call with the routing lock held, so spool order is routing order).
    private func enqueue(_ spooling: Spooling, for pending: PendingBatch) {
        stats.countStoredForRetry(spooling.indices.count)
        spool.enqueue(spooling.batch) { [self] result in
            spooled(result, indices: spooling.indices, hashes: spooling.hashes, for: pending)
        }
    }

    /// Resolves records once the spool has them (or could not take them).
    private func spooled(
        _ result: Result<[Int64], SpoolError>, indices: [Int], hashes: [UInt64], for pending: PendingBatch
    ) {
        switch result {
        case .success:
            for index in indices { pending.resolve(record: index, failure: nil) }
            // Behind a closed circuit the worker delivers them now, not at its next interval.
            if routing.breakerState != .open { wakeRetryWorker() }
        case .failure(let error):
            routing.unspool(hashes.reduce(into: [:]) { $0[$1, default: 0] += 1 })
            let refusal = Refusal.spoolFailed(error.isFull ? .overloaded : .internal)
            for index in indices { refuse(record: index, refusal, of: pending) }
        }
    }

    /// A failed delivery of a record of a client batch (`PendingBatch` settles deliveries).
    private func failed(_ pending: PendingBatch, _ index: Int, _ error: KafkaError, _ message: FailedMessage) {
        let now = clock.now()
        let configuration = settings.current.configuration
        let outage = !error.isBrokerReported
        if outage && !error.isPurged {
            pending.countOutageFailure()
            // Before this record is spooled: the retry worker must not deliver later
            // records of its key until what the producer still holds is spooled too.
            restartProducer(reason: error.reason)
        }
        let reason: SpoolReason
        switch Route.afterFailedDelivery(
            purged: error.isPurged, stopping: restartsStopped.load(ordering: .acquiring),
            restarting: isRestartingProducer, retriable: error.isRetriable,
            storeFailures: configuration.storeFailures)
        {
        case .spool(let spoolReason): reason = spoolReason
        case .refuse(let refusal):
            refuse(record: index, refusal, of: pending)
            return
        case .kafka: preconditionFailure("a failed delivery is spooled or refused")
        }
        let record = SpoolRecord(
            sequence: pending.sequenceBase + Int64(index),
            eventID: pending.eventIDs[index].uuidString,
            topic: message.topic, key: message.key,
            headers: message.headers.map { SpoolHeader(name: $0.name, value: $0.value) }, value: message.value,
            timestamp: message.timestamp, client: pending.client,
            reason: reason == .deliveryFailed ? error.reason : reason.text.description,
            attempts: outage ? 0 : 1,
            // Too large is never worth a backoff: the worker's next send dead-letters it if refused again.
            nextRetryAt: outage ? 0 : error.isRecordTooLarge ? now : now + configuration.retry.backoff(afterAttempts: 1)
        )
        let hash = keyHash(topic: message.topic, key: message.key)
        if !outage { held.hold(hash, head: record.sequence, until: record.nextRetryAt) }
        routing.withState { state in
            state.spooledKeys[hash, default: 0] += 1
            stats.countStoredForRetry(1)
            spool.enqueue([record]) { [self] result in
                spooled(result, indices: [index], hashes: [hash], for: pending)
            }
            return ((), nil)
        }
    }

    /// Replaces the producer after an outage failure, a fatal error or the circuit opening.
    ///
    /// Everything the old producer holds fails as purged and is spooled, so afterwards no
    /// record of a spooled key is left in flight and the retry worker may deliver in
    /// sequence order. A cluster that came back empty, or that fences the old producer
    /// id, accepts the new one. Requests while a restart runs are merged into it.
    func restartProducer(reason: String) {
        guard !restartsStopped.load(ordering: .acquiring),
            !restarting.exchange(true, ordering: .acquiringAndReleasing)
        else { return }
        logger.warning("restarting the Kafka producer (\(reason)); what it holds goes to the spool")
        restartThread.async { [self] in
            do { try producer.reset() } catch { logger.error("cannot restart the Kafka producer: \(error)") }
            spool.waitForQueuedCommits()
            restarting.store(false, ordering: .releasing)
            wakeRetryWorker()
        }
    }

    /// Refuses further restarts and waits for one under way (the gateway is stopping).
    func stopRestarts() {
        restartsStopped.store(true, ordering: .releasing)
        restartThread.sync {}
    }

    /// Whether a producer restart is under way: the spool may still miss records it holds.
    var isRestartingProducer: Bool { restarting.load(ordering: .acquiring) }
}

/// Fast random event ids for records that arrive without one (xoshiro256**, seeded from
/// the system's generator once per connection, so no system call per record).
struct EventIDGenerator: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init() {
        var system = SystemRandomNumberGenerator()
        state = (system.next(), system.next(), system.next(), system.next() | 1)
    }

    mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
