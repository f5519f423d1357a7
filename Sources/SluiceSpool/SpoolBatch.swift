import Foundation

/// Adds headers to a record being encoded (`SpoolCodec`'s header blob).
public struct SpoolHeaderWriter {
    var bytes: [UInt8] = []
    var count = 0

    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        SpoolCodec.appendHeader(name: name, value: value, to: &bytes)
        count += 1
    }

    public mutating func add(name: StaticString, value: UnsafeRawBufferPointer) {
        name.withUTF8Buffer { add(name: UnsafeRawBufferPointer($0), value: value) }
    }

    public mutating func add(name: String, value: [UInt8]) {
        var name = name
        name.withUTF8 { name in value.withUnsafeBytes { add(name: UnsafeRawBufferPointer(name), value: $0) } }
    }
}

/// Records encoded for the spool's log by the thread that spools them, with what the
/// log's index needs to know of each, so the spool's single writer only writes.
public struct SpoolBatch: Sendable {
    var bytes: [UInt8] = []
    /// Ascending.
    var ids: [Int64] = []
    /// Where each record starts in `bytes`.
    var offsets: [Int] = []
    var sizes: [Int] = []
    var topics: [String] = []
    /// What the records count against the spool's cap.
    var size: Int64 = 0

    public init() {}

    /// Records in the batch.
    public var count: Int { ids.count }

    /// Appends a record spooled at `createdAt` (ms since the epoch); `sequence` must be
    /// above the batch's last. `headers` adds its Kafka headers in order.
    public mutating func append(
        sequence: Int64, eventID: UnsafeRawBufferPointer, topic: String, key: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer, timestamp: Int64, client: String, reason: StaticString, createdAt: Int64,
        headers: (inout SpoolHeaderWriter) -> Void
    ) {
        precondition(ids.last.map { $0 < sequence } ?? true, "a spool batch's sequences ascend")
        let start = bytes.count
        var topicName = topic
        var client = client
        let size = topicName.withUTF8 { topic in
            client.withUTF8 { client in
                reason.withUTF8Buffer { reason in
                    let fields = SpoolCodec.RawFields(
                        id: sequence, createdAt: createdAt, timestamp: timestamp,
                        topic: UnsafeRawBufferPointer(topic), eventID: eventID, client: UnsafeRawBufferPointer(client),
                        reason: UnsafeRawBufferPointer(reason), key: key, value: value)
                    return SpoolCodec.append(fields, to: &bytes, headers: headers)
                }
            }
        }
        add(id: sequence, offset: start, size: size, topic: topic)
    }

    /// Encodes `records`, or nil when the log cannot take them as they are: some carry
    /// delivery state (attempts, a retry time), or their ids do not ascend.
    init?(_ records: [SpoolRecord], createdAt: Int64) {
        var previous = Int64.min
        for record in records {
            guard record.attempts == 0, record.nextRetryAt == 0, record.sequence > previous else { return nil }
            previous = record.sequence
        }
        ids.reserveCapacity(records.count)
        offsets.reserveCapacity(records.count)
        sizes.reserveCapacity(records.count)
        topics.reserveCapacity(records.count)
        bytes.reserveCapacity(records.count * 512)
        for record in records {
            let start = bytes.count
            let size = SpoolCodec.append(record, createdAt: record.createdAt ?? createdAt, to: &bytes)
            add(id: record.sequence, offset: start, size: size, topic: record.topic)
        }
    }

    private mutating func add(id: Int64, offset: Int, size: Int, topic: String) {
        ids.append(id)
        offsets.append(offset)
        sizes.append(size)
        topics.append(topic)
        self.size += Int64(size)
    }

    /// The records, decoded (for the table, when the log cannot take them).
    func records() -> [SpoolRecord] {
        bytes.withUnsafeBytes { bytes in
            offsets.map {
                SpoolCodec.storedRecord(in: bytes, SpoolCodec.fields(in: bytes, at: $0, version: SpoolCodec.version))
                    .record
            }
        }
    }
}
