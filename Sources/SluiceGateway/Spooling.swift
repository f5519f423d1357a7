import SluiceProtocol
import SluiceSpool

/// Records of one client batch on their way to the spool, encoded straight from the
/// batch's bytes with the headers a direct publish would carry: the stamped headers in
/// force when the record arrived are the ones it is published with later.
struct Spooling {
    var batch = SpoolBatch()
    /// Each record's index in its client batch.
    var indices: [Int] = []
    /// Each record's `keyHash`, to give the key back if the spool refuses the records.
    var hashes: [UInt64] = []

    var isEmpty: Bool { indices.isEmpty }

    mutating func add(
        _ record: RecordView, of publish: PublishBatch, bytes: UnsafeRawBufferPointer, eventID: EventID, now: Int64,
        stamped: StampedHeaders, publisher: StampedHeaders.Publisher, pending: PendingBatch, index: Int,
        topic: String, hash: UInt64, reason: StaticString
    ) {
        withUnsafeTemporaryAllocation(byteCount: 36, alignment: 1) { text in
            eventID.writeText(into: text)
            batch.append(
                sequence: pending.sequenceBase + Int64(index), eventID: UnsafeRawBufferPointer(text), topic: topic,
                key: UnsafeRawBufferPointer(rebasing: bytes[record.key]),
                value: UnsafeRawBufferPointer(rebasing: bytes[record.value]),
                timestamp: record.timestamp == 0 ? now : record.timestamp, client: pending.client,
                reason: reason, createdAt: now
            ) { headers in
                stamped.addHeaders(of: record, in: publish, bytes: bytes, eventID: eventID, publisher: publisher) {
                    headers.add(name: $0, value: $1)
                }
            }
        }
        indices.append(index)
        hashes.append(hash)
    }
}
