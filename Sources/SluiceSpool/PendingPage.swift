import GRDB
import GRDBSQLite

/// PENDING records read for delivery: their bytes in one buffer, so a page of a thousand
/// records costs a few allocations rather than a dozen per record.
public struct PendingPage: Sendable {
    /// One record: its id and where its parts lie in `bytes`.
    public struct Entry: Sendable {
        public var id: Int64
        /// Index into `topics`.
        public var topic: Int
        public var key: Range<Int>
        /// The headers, as a blob of the current codec version (see `forEachHeader`).
        public var headers: Range<Int>
        public var value: Range<Int>
        /// Kafka timestamp, ms since the epoch.
        public var timestamp: Int64
        /// Broker-reported failures so far.
        public var attempts: Int
        /// Bytes the record counts against the spool's cap.
        public var size: Int
        /// Whether it lies in the spool's log (else in the table).
        public var inLog = false
    }

    /// The distinct topics of the page.
    public private(set) var topics: [String] = []
    public private(set) var bytes: [UInt8] = []
    public internal(set) var entries: [Entry] = []

    public init() {}

    /// Calls `body` with each header's name and value, in order.
    public func forEachHeader(
        of entry: Entry, _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void
    ) {
        bytes.withUnsafeBytes { all in
            SpoolCodec.forEachHeader(
                in: UnsafeRawBufferPointer(rebasing: all[entry.headers]), version: SpoolCodec.version, body)
        }
    }

    /// Appends the log record whose `fields` lie in `record`.
    mutating func appendLogRecord(_ record: UnsafeRawBufferPointer, _ fields: SpoolCodec.Fields) {
        func copy(_ range: Range<Int>) -> Range<Int> {
            let first = bytes.count
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[range]))
            return first..<bytes.count
        }
        let headersStart = bytes.count
        SpoolCodec.appendHeaders(
            UnsafeRawBufferPointer(rebasing: record[fields.headers]), version: fields.version, to: &bytes)
        entries.append(
            Entry(
                id: fields.id, topic: topicIndex(UnsafeRawBufferPointer(rebasing: record[fields.topic])),
                key: copy(fields.key), headers: headersStart..<bytes.count, value: copy(fields.value),
                timestamp: fields.timestamp, attempts: 0, size: fields.size, inLog: true))
    }

    /// The index of `name` in `topics`, added if new.
    private mutating func topicIndex(_ name: UnsafeRawBufferPointer) -> Int {
        // Pages mostly hold one topic: compare with the last one before making a String.
        var topic = topics.count - 1
        if topic < 0 || !topics[topic].utf8.elementsEqual(name) {
            topic = topics.firstIndex { $0.utf8.elementsEqual(name) } ?? topics.count
            if topic == topics.count { topics.append(String(decoding: name, as: UTF8.self)) }
        }
        return topic
    }

    /// Keeps the `limit` entries with the lowest ids, in id order (a page merged from the
    /// log and the table).
    mutating func keepLowest(_ limit: Int) {
        entries.sort { $0.id < $1.id }
        if entries.count > limit { entries.removeLast(entries.count - limit) }
    }

    /// Appends the current row of a statement that selected
    /// `id, topic, key, headers, value, timestamp, attempts, size, codec`.
    mutating func append(_ row: SQLiteStatement) {
        func blob(_ column: Int32) -> Range<Int> {
            let count = Int(sqlite3_column_bytes(row, column))
            let start = bytes.count
            if count > 0, let base = sqlite3_column_blob(row, column) {
                bytes.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
            }
            return start..<bytes.count
        }
        /// Rows an older Sluice wrote have their header blob re-encoded in the current version.
        func headers() -> Range<Int> {
            let start = bytes.count
            if let base = sqlite3_column_blob(row, 3) {
                SpoolCodec.appendHeaders(
                    UnsafeRawBufferPointer(start: base, count: Int(sqlite3_column_bytes(row, 3))),
                    version: UInt8(truncatingIfNeeded: sqlite3_column_int64(row, 8)), to: &bytes)
            }
            return start..<bytes.count
        }
        let topicLength = Int(sqlite3_column_bytes(row, 1))
        let topic = topicIndex(UnsafeRawBufferPointer(start: sqlite3_column_text(row, 1), count: topicLength))
        entries.append(
            Entry(
                id: sqlite3_column_int64(row, 0), topic: topic, key: blob(2), headers: headers(), value: blob(4),
                timestamp: sqlite3_column_int64(row, 5), attempts: Int(sqlite3_column_int64(row, 6)),
                size: Int(sqlite3_column_int64(row, 7))))
    }
}
