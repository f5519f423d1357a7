import Foundation
import Logging
import SluiceKafka
import SluiceProtocol

/// Decides where each record of a client batch goes and tracks the batch until its `ACK`.
///
/// Today every valid record goes straight to the Kafka producer. This is the seam where the
/// spool joins: records of an open circuit, or of a key that already waits in the spool,
/// will be routed there instead.
final class Router: Sendable {
    private let producer: KafkaProducer
    private let stats: GatewayStats
    private let logger: Logger

    init(producer: KafkaProducer, stats: GatewayStats, logger: Logger) {
        self.producer = producer
        self.stats = stats
        self.logger = logger
    }

    /// The producer's delivery-report handler: resolves the record behind `opaque`.
    static func deliveryHandler(stats: GatewayStats) -> @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void {
        { opaque, outcome in
            guard let opaque else { return }
            switch outcome {
            case .delivered:
                stats.recordsPublished.add(1, ordering: .relaxed)
                PendingBatch.resolve(opaque: opaque, failure: nil)
            case .failed(let error):
                stats.recordsFailed.add(1, ordering: .relaxed)
                let code: ErrorCode = error.isRetriable ? .deliveryFailed : .rejectedByBroker
                stats.countError(code)
                PendingBatch.resolve(opaque: opaque, failure: code)
            }
        }
    }

    /// Publishes every valid record of `batch`; `onAck` receives the `ACK` when the ack level
    /// says so. Blocks while librdkafka's queue is full, which stops the caller's reads.
    func publish(
        _ batch: PublishBatch, requestID: UInt32, eventIDs: inout EventIDGenerator,
        onAck: @escaping @Sendable (UInt32, Ack) -> Void
    ) {
        let pending = PendingBatch(
            requestID: requestID, ackLevel: batch.ackLevel, recordCount: batch.records.count, onAck: onAck)
        stats.recordsReceived.add(batch.records.count, ordering: .relaxed)
        let now = currentTimeMilliseconds()
        batch.payload.withUnsafeBytes { bytes in
            for (index, record) in batch.records.enumerated() {
                if let invalid = record.error {
                    stats.recordsInvalid.add(1, ordering: .relaxed)
                    stats.countError(invalid)
                    pending.resolve(record: index, failure: invalid)
                    continue
                }
                let eventID = record.eventID.isZero ? EventID.random(using: &eventIDs) : record.eventID
                produce(
                    record, of: batch, bytes: bytes, eventID: eventID,
                    timestamp: record.timestamp == 0 ? now : record.timestamp,
                    opaque: pending.opaque(forRecord: index), failure: { pending.resolve(record: index, failure: $0) })
            }
        }
        pending.acceptedAll()
    }

    private func produce(
        _ record: RecordView, of batch: PublishBatch, bytes: UnsafeRawBufferPointer, eventID: EventID, timestamp: Int64,
        opaque: UnsafeMutableRawPointer, failure: (ErrorCode) -> Void
    ) {
        while true {
            do {
                try producer.produce(
                    topic: UnsafeRawBufferPointer(rebasing: bytes[record.topic]),
                    key: UnsafeRawBufferPointer(rebasing: bytes[record.key]),
                    value: UnsafeRawBufferPointer(rebasing: bytes[record.value]),
                    timestamp: timestamp, headerCount: record.headerCount + 2, opaque: opaque
                ) { headers in
                    batch.forEachHeader(of: record) { headers.add(name: $0, value: $1) }
                    withUnsafeTemporaryAllocation(byteCount: 36, alignment: 1) { text in
                        eventID.writeText(into: text)
                        Self.eventIDHeader.withUTF8Buffer {
                            headers.add(name: UnsafeRawBufferPointer($0), value: UnsafeRawBufferPointer(text))
                        }
                    }
                    Self.eventTypeHeader.withUTF8Buffer {
                        headers.add(
                            name: UnsafeRawBufferPointer($0),
                            value: UnsafeRawBufferPointer(rebasing: bytes[record.eventType]))
                    }
                }
                return
            } catch  where error.code == .queueFull {
                producer.waitForQueueSpace()
            } catch {
                logger.error("produce failed: \(error)")
                stats.recordsFailed.add(1, ordering: .relaxed)
                stats.countError(.internal)
                failure(.internal)
                return
            }
        }
    }

    static let eventIDHeader: StaticString = "event-id"
    static let eventTypeHeader: StaticString = "event-type"
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

func currentTimeMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
