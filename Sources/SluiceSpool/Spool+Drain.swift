import Foundation
import GRDB
import GRDBSQLite

/// Delivered records to delete from the spool, with what they counted for.
public struct SpoolRemoval: Sendable {
    public private(set) var ids: [Int64] = []
    public private(set) var bytes: Int64 = 0
    private var counted: [String: Int] = [:]
    // Records of a chunk mostly share a topic: count runs, hash each topic once per run.
    private var run: (topic: String, count: Int)?

    public init() {}

    /// Adds the record `id` of `topic`, which counted `size` bytes against the spool's cap.
    public mutating func add(id: Int64, topic: String, size: Int) {
        ids.append(id)
        bytes += Int64(size)
        if run?.topic == topic {
            run!.count += 1
        } else {
            if let run { counted[run.topic, default: 0] += run.count }
            run = (topic, 1)
        }
    }

    /// Records per topic.
    public var perTopic: [String: Int] {
        guard let run else { return counted }
        var all = counted
        all[run.topic, default: 0] += run.count
        return all
    }
}

/// What the retry worker reads and changes: the cursor over PENDING rows, deletion of
/// delivered rows, and the bookkeeping of rows a broker rejected.
extension Spool {
    /// Up to `limit` PENDING records with an id above `cursor`, in id (routing) order, as
    /// the drain needs them: every record's bytes in one buffer. The log's and the table's
    /// records are merged by id, so a record that moved to the table keeps its place.
    public func pending(after cursor: Int64, limit: Int) throws(SpoolError) -> PendingPage {
        var page = try read { db in
            var page = PendingPage()
            page.entries.reserveCapacity(limit)
            try db.forEachRow(
                """
                SELECT id, topic, key, headers, value, timestamp, attempts, size, codec FROM failed_kafka_events
                WHERE id > ? AND status = 'PENDING' ORDER BY id LIMIT ?
                """,
                bind: {
                    sqlite3_bind_int64($0, 1, cursor)
                    sqlite3_bind_int64($0, 2, Int64(limit))
                }
            ) { row in page.append(row) }
            return page
        }
        let fromTable = page.entries.count
        try log.read(log.locations(after: cursor, limit: limit)) { page.appendLogRecord($0, $1) }
        if fromTable > 0 && page.entries.count > fromTable { page.keepLowest(limit) }
        return page
    }

    /// PENDING records a reachable broker has rejected at least once (attempts > 0), in order.
    public func rejected() throws(SpoolError) -> [StoredRecord] {
        try read { db in
            var records: [StoredRecord] = []
            try db.forEachRow(
                """
                SELECT \(Self.columns) FROM failed_kafka_events
                WHERE (status != 'PENDING' OR attempts > 0) AND status = 'PENDING' AND attempts > 0 ORDER BY id
                """
            ) { records.append(StoredRecord(row: $0)) }
            return records
        }
    }

    /// Deletes records Kafka has acknowledged, in one transaction, and counts them as resolved.
    public func remove(_ delivered: SpoolRemoval) throws(SpoolError) {
        guard !delivered.ids.isEmpty else { return }
        let (inTable, logged, loggedBytes) = log.markGone(delivered.ids)
        try write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM failed_kafka_events WHERE id = ?").sqliteStatement
            for id in inTable {
                sqlite3_reset(delete)
                sqlite3_bind_int64(delete, 1, id)
                guard sqlite3_step(delete) == SQLITE_DONE else {
                    throw SpoolError("delete failed: \(String(cString: sqlite3_errmsg(sqlite3_db_handle(delete))))")
                }
            }
            sqlite3_reset(delete)
            try db.execute(
                sql: """
                    INSERT INTO spool_counters (name, value) VALUES ('resolved', ?)
                    ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
                    """, arguments: [delivered.ids.count])
            try saveLogFloor(db)
        }
        log.dropDeadSegments()
        tally.withLock { tally in
            for (topic, count) in delivered.perTopic {
                tally.topics[topic, default: .init()].pending -= count - (logged[topic] ?? 0)
            }
            tally.bytes -= delivered.bytes - loggedBytes
            tally.resolved += delivered.ids.count
        }
    }

    /// Moves records the drain passed by (their key is held) from the log to the table, so
    /// the log can be dropped behind them; they keep their ids and so their place.
    public func park(_ ids: [Int64]) throws(SpoolError) {
        for id in ids { try moveToTable(id) { _ in } }
    }

    /// Records a broker-reported failure: counts an attempt and schedules the next one.
    public func recordFailure(id: Int64, attempts: Int, nextRetryAt: Int64, error: String) throws(SpoolError) {
        try moveToTable(id) { db in
            try db.execute(
                sql: """
                    UPDATE failed_kafka_events SET attempts = ?, next_retry_at = ?, last_error = ?, updated_at = ?
                    WHERE id = ? AND status = 'PENDING'
                    """, arguments: [attempts, nextRetryAt, error, Self.now(), id])
        }
    }

    /// Moves a PENDING record to DLQ (sent to the dead-letter topic) or DLQ_FAILED after `attempts`.
    public func markDeadLettered(id: Int64, status: SpoolStatus, attempts: Int, error: String) throws(SpoolError) {
        precondition(status == .dlq || status == .dlqFailed)
        let topic = try moveToTable(id) { db -> String? in
            let topic = try String.fetchOne(
                db, sql: "SELECT topic FROM failed_kafka_events WHERE id = ? AND status = 'PENDING'", arguments: [id])
            try db.execute(
                sql:
                    "UPDATE failed_kafka_events SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?",
                arguments: [status.rawValue, attempts, error, Self.now(), id])
            return topic
        }
        guard let topic else { return }
        tally.withLock { tally in
            tally.topics[topic, default: .init()].pending -= 1
            if status == .dlq {
                tally.topics[topic, default: .init()].dlq += 1
            } else {
                tally.topics[topic, default: .init()].dlqFailed += 1
            }
        }
    }

    /// Runs `change` in a transaction, first copying record `id` from the log into the table
    /// if it lies in the log; the log lets go of it only once that is committed.
    private func moveToTable<T>(_ id: Int64, _ change: (Database) throws -> T) throws(SpoolError) -> T {
        guard let stored = try log.record(id: id) else { return try write(change) }
        let result = try write { db in
            var insert = try RowInserter(db)
            try insert.append([stored.record])
            return try change(db)
        }
        _ = log.markGone([id])
        tally.withLock { tally in
            tally.topics[stored.record.topic, default: .init()].pending += 1
            tally.bytes += Int64(stored.record.byteCount)
        }
        return result
    }

    /// Notes in the table how far the log has gone, so a restart does not bring back what left it.
    private func saveLogFloor(_ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO spool_counters (name, value) VALUES ('log_floor', ?)
                ON CONFLICT (name) DO UPDATE SET value = excluded.value
                """, arguments: [log.floor])
    }

    /// Every (topic, key) with PENDING records, and how many: new records for them queue behind.
    public func pendingKeys() throws(SpoolError) -> [SpoolKey: Int] {
        var keys = try read { db in
            var keys: [SpoolKey: Int] = [:]
            try db.forEachRow(
                "SELECT topic, key, COUNT(*) FROM failed_kafka_events WHERE status = 'PENDING' GROUP BY topic, key"
            ) { row in
                let topic = String(cString: sqlite3_column_text(row, 0))
                let count = Int(sqlite3_column_bytes(row, 1))
                let key = sqlite3_column_blob(row, 1).map { Array(UnsafeRawBufferPointer(start: $0, count: count)) }
                keys[SpoolKey(topic: topic, key: key ?? [])] = Int(sqlite3_column_int64(row, 2))
            }
            return keys
        }
        var cursor: Int64 = 0
        while true {
            let locations = log.locations(after: cursor, limit: 10_000)
            guard !locations.isEmpty else { break }
            try log.read(locations) { bytes, fields in
                let key = SpoolKey(
                    topic: String(decoding: bytes[fields.topic], as: UTF8.self), key: Array(bytes[fields.key]))
                keys[key, default: 0] += 1
                cursor = fields.id
            }
        }
        return keys
    }

    /// The highest sequence in the spool, so a restarted gateway continues above it.
    public func maxSequence() throws(SpoolError) -> Int64 {
        let table = try read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM failed_kafka_events") ?? 0
        }
        return max(table, log.lastID)
    }

    /// When the oldest PENDING record was spooled (ms since the epoch), or nil when none is.
    public func oldestPendingCreatedAt() throws(SpoolError) -> Int64? {
        let table = try read { db in
            try Int64.fetchOne(
                db, sql: "SELECT created_at FROM failed_kafka_events WHERE status = 'PENDING' ORDER BY id LIMIT 1")
        }
        return [table, log.oldestCreatedAt()].compactMap { $0 }.min()
    }
}
