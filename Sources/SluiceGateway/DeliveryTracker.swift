import Dispatch
import SluiceKafka
import SluiceProtocol
import Synchronization

/// Something waiting for the delivery reports of a group of records it produced.
///
/// Each record's delivery report carries a pointer to that record's `Slot`, one allocation
/// per group, so reports find their tracker and index without a per-record allocation.
/// The tracker keeps itself alive (one retain) until `release()` after its last record.
class DeliveryTracker: @unchecked Sendable {
    // `@unchecked Sendable`: `slots` is written once in init; subclasses guard their state.
    struct Slot {
        var tracker: UnsafeMutableRawPointer
        var index: Int
    }

    let recordCount: Int
    private let slots: UnsafeMutablePointer<Slot>

    init(recordCount: Int) {
        self.recordCount = recordCount
        slots = .allocate(capacity: max(recordCount, 1))
        let me = Unmanaged.passRetained(self).toOpaque()
        for index in 0..<recordCount {
            (slots + index).initialize(to: Slot(tracker: me, index: index))
        }
    }

    deinit {
        slots.deinitialize(count: recordCount)
        slots.deallocate()
    }

    /// The opaque a record's delivery report carries.
    final func opaque(forRecord index: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(slots + index)
    }

    /// Hands a delivery report to the tracker behind `opaque`.
    static func report(opaque: UnsafeMutableRawPointer, outcome: DeliveryOutcome) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        Unmanaged<DeliveryTracker>.fromOpaque(slot.tracker).takeUnretainedValue().delivered(
            record: slot.index, outcome: outcome)
    }

    /// One record's delivery report; called on librdkafka's polling thread.
    func delivered(record index: Int, outcome: DeliveryOutcome) {
        preconditionFailure("subclasses handle delivery reports")
    }

    /// Drops the self-retain taken in init; call once, after the last record is resolved.
    final func release() {
        Unmanaged.passUnretained(self).release()
    }
}

/// One client batch on its way to Kafka or the spool: counts its records down to an `ACK`.
final class PendingBatch: DeliveryTracker, @unchecked Sendable {
    let requestID: UInt32
    let ackLevel: AckLevel
    /// Distinct topics of the batch; `topicOfRecord` indexes into it (for per-topic stats).
    let topics: [String]
    let topicOfRecord: [UInt16]
    /// Each record's event id, fixed before routing (a failed delivery spools it under that id).
    let eventIDs: [EventID]
    /// Who published the batch, for the spool and the DLQ headers.
    let client: String
    /// When the batch arrived, for `kafka.publish.latency`.
    let startedAt = DispatchTime.now()
    /// Routing sequence of record 0; set under the routing lock before any record is produced.
    nonisolated(unsafe) var sequenceBase: Int64 = 0
    private let outageFailures = Atomic<Int>(0)
    private let remaining: Atomic<Int>
    private let failures = Mutex<[RecordFailure]>([])
    /// Per record: whether it went to Kafka directly. Each flag is written once, by the
    /// record's resolver, and read in `complete()`, after the last resolver's decrement of
    /// `remaining` (acquiring and releasing) has ordered every write before it.
    private let published: UnsafeMutablePointer<Bool>
    /// Whether the `ACK` already went out (ack level `accepted` acks before delivery).
    private let acked = Atomic<Bool>(false)
    private let onFailure: @Sendable (PendingBatch, Int, KafkaError, FailedMessage) -> Void
    private let onComplete: @Sendable (PendingBatch, Ack?, [Int]) -> Void

    /// `onFailure` decides what a failed delivery means (it may spool the record) and resolves it;
    /// `onComplete` gets the `ACK` to send, if the ack level wants one, and per-topic
    /// counts of records that went to Kafka directly.
    init(
        requestID: UInt32, ackLevel: AckLevel, topics: [String], topicOfRecord: [UInt16], eventIDs: [EventID],
        onFailure: @escaping @Sendable (PendingBatch, Int, KafkaError, FailedMessage) -> Void, client: String,
        onComplete: @escaping @Sendable (PendingBatch, Ack?, [Int]) -> Void
    ) {
        self.client = client
        self.requestID = requestID
        self.ackLevel = ackLevel
        self.topics = topics
        self.topicOfRecord = topicOfRecord
        self.eventIDs = eventIDs
        self.remaining = Atomic(topicOfRecord.count)
        self.onFailure = onFailure
        self.onComplete = onComplete
        published = .allocate(capacity: max(topicOfRecord.count, 1))
        published.initialize(repeating: false, count: max(topicOfRecord.count, 1))
        super.init(recordCount: topicOfRecord.count)
    }

    deinit { published.deallocate() }

    override func delivered(record index: Int, outcome: DeliveryOutcome) {
        switch outcome {
        case .delivered: resolve(record: index, failure: nil, publishedDirectly: true)
        case .failed(let error, let message): onFailure(self, index, error, message)
        }
    }

    /// Counts an outage failure for the circuit breaker, which hears outcomes per batch
    /// (successes are the records `publishedDirectly`).
    func countOutageFailure() {
        outageFailures.add(1, ordering: .relaxed)
    }

    var outageFailureCount: Int { outageFailures.load(ordering: .relaxed) }

    /// Marks one record done: in Kafka (`publishedDirectly`), in the spool, or failed.
    func resolve(record index: Int, failure: ErrorCode?, publishedDirectly: Bool = false) {
        if let failure {
            failures.withLock { $0.append(RecordFailure(index: UInt32(index), code: failure)) }
        } else if publishedDirectly {
            published[index] = true
        }
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            complete()
        }
    }

    /// For ack level `accepted`: every record is queued, so ack now with what failed so far.
    func acceptedAll() -> Ack? {
        guard ackLevel == .accepted, !acked.exchange(true, ordering: .acquiringAndReleasing) else { return nil }
        return Ack(recordCount: UInt32(recordCount), failures: sortedFailures())
    }

    private func complete() {
        let failed = sortedFailures()
        // Ack level `none` hears only of failures; `accepted` may have had its ACK already.
        let wanted = ackLevel != .none || !failed.isEmpty
        let ack =
            wanted && !acked.exchange(true, ordering: .acquiringAndReleasing)
            ? Ack(recordCount: UInt32(recordCount), failures: failed) : nil
        var perTopic = [Int](repeating: 0, count: topics.count)
        for index in 0..<recordCount where published[index] { perTopic[Int(topicOfRecord[index])] += 1 }
        onComplete(self, ack, perTopic)
        release()
    }

    private func sortedFailures() -> [RecordFailure] {
        failures.withLock { $0.sorted { $0.index < $1.index } }
    }
}

/// Spooled records the retry worker re-sends: collects their outcomes until all reported.
final class RetryBatch: DeliveryTracker, @unchecked Sendable {
    private let outcomes: Mutex<[DeliveryOutcome?]>
    private let remaining: Atomic<Int>
    private let done = Mutex(false)
    private let finished: @Sendable () -> Void

    init(recordCount: Int, finished: @escaping @Sendable () -> Void) {
        outcomes = Mutex([DeliveryOutcome?](repeating: nil, count: recordCount))
        remaining = Atomic(recordCount)
        self.finished = finished
        super.init(recordCount: recordCount)
    }

    override func delivered(record index: Int, outcome: DeliveryOutcome) {
        outcomes.withLock { $0[index] = outcome }
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            finished()
            release()
        }
    }

    /// Each record's outcome; nil for records whose report has not arrived.
    var results: [DeliveryOutcome?] { outcomes.withLock { $0 } }
}
