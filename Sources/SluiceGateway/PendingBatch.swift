import SluiceProtocol
import Synchronization

/// One client batch on its way to Kafka: counts its records down to an `ACK`.
///
/// Each record's delivery report carries a pointer to that record's `Slot`, one allocation
/// for the whole batch, so reports find their batch and index without a per-record
/// allocation. The batch keeps itself alive (one retain) until its last record resolves.
final class PendingBatch: Sendable {
    struct Slot {
        var batch: UnsafeMutableRawPointer
        var index: Int
    }

    let requestID: UInt32
    let ackLevel: AckLevel
    let recordCount: Int
    private let remaining: Atomic<Int>
    private let failures = Mutex<[RecordFailure]>([])
    /// Whether the `ACK` already went out (ack level `accepted` acks before delivery).
    private let acked = Atomic<Bool>(false)
    private let onAck: @Sendable (UInt32, Ack) -> Void
    nonisolated(unsafe) private let slots: UnsafeMutablePointer<Slot>

    /// Creates a batch that calls `onAck` once, with the outcome its ack level asks for.
    init(requestID: UInt32, ackLevel: AckLevel, recordCount: Int, onAck: @escaping @Sendable (UInt32, Ack) -> Void) {
        self.requestID = requestID
        self.ackLevel = ackLevel
        self.recordCount = recordCount
        self.remaining = Atomic(recordCount)
        self.onAck = onAck
        self.slots = .allocate(capacity: recordCount)
        let me = Unmanaged.passRetained(self).toOpaque()
        for index in 0..<recordCount {
            (slots + index).initialize(to: Slot(batch: me, index: index))
        }
    }

    deinit {
        slots.deinitialize(count: recordCount)
        slots.deallocate()
    }

    /// The opaque a record's delivery report carries.
    func opaque(forRecord index: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(slots + index)
    }

    /// Resolves the record behind a delivery report's opaque.
    static func resolve(opaque: UnsafeMutableRawPointer, failure: ErrorCode?) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        Unmanaged<PendingBatch>.fromOpaque(slot.batch).takeUnretainedValue().resolve(
            record: slot.index, failure: failure)
    }

    /// Marks one record delivered (`failure` nil) or failed; the last one sends the `ACK`.
    func resolve(record index: Int, failure: ErrorCode?) {
        if let failure {
            failures.withLock { $0.append(RecordFailure(index: UInt32(index), code: failure)) }
        }
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            complete()
        }
    }

    /// For ack level `accepted`: every record is queued, so ack now with what failed so far.
    func acceptedAll() {
        guard ackLevel == .accepted, !acked.exchange(true, ordering: .acquiringAndReleasing) else { return }
        onAck(requestID, Ack(recordCount: UInt32(recordCount), failures: sortedFailures()))
    }

    private func complete() {
        let failed = sortedFailures()
        let wanted = ackLevel == .durable || (ackLevel == .none && !failed.isEmpty) || ackLevel == .accepted
        if wanted && !acked.exchange(true, ordering: .acquiringAndReleasing) {
            onAck(requestID, Ack(recordCount: UInt32(recordCount), failures: failed))
        }
        Unmanaged.passUnretained(self).release()
    }

    private func sortedFailures() -> [RecordFailure] {
        failures.withLock { $0.sorted { $0.index < $1.index } }
    }
}
