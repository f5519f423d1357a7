import SluiceProtocol
import SluiceSpool

/// Records of one client batch on their way to the spool, encoded straight from the
/// batch's bytes with the headers a direct publish would carry.
struct Spooling {
    var batch = SpoolBatch()
    /// Each record's index in its client batch.
    var indices: [Int] = []
    /// Each record's `keyHash`, to give the key back if the spool refuses the records.
    var hashes: [UInt64] = []

    var isEmpty: Bool { indices.isEmpty }

    mutating func add(
        _ record: RecordView, of publish: PublishBatch, bytes: UnsafeRawBufferPointer, eventID: EventID, now: Int64,
        peer: PeerStamp, pending: PendingBatch, index: Int, topic: String, hash: UInt64
    ) {
        withUnsafeTemporaryAllocation(byteCount: 36, alignment: 1) { text in
            eventID.writeText(into: text)
            let id = UnsafeRawBufferPointer(text)
            batch.append(
                sequence: pending.sequenceBase + Int64(index), eventID: id, topic: topic,
                key: UnsafeRawBufferPointer(rebasing: bytes[record.key]),
                value: UnsafeRawBufferPointer(rebasing: bytes[record.value]),
                timestamp: record.timestamp == 0 ? now : record.timestamp, client: pending.client,
                reason: "circuit open", createdAt: now
            ) { headers in
                publish.forEachHeader(of: record) { headers.add(name: $0, value: $1) }
                headers.add(name: "event-id", value: id)
                headers.add(name: "event-type", value: UnsafeRawBufferPointer(rebasing: bytes[record.eventType]))
                peer.uid.withUnsafeBytes { headers.add(name: "sluice-uid", value: $0) }
                peer.pid.withUnsafeBytes { headers.add(name: "sluice-pid", value: $0) }
            }
        }
        indices.append(index)
        hashes.append(hash)
    }
}
