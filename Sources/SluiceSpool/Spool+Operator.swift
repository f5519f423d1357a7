import Foundation
import GRDB
import GRDBSQLite

/// What `sluice spool` shows and repairs; safe while a gateway runs on the same file.
extension Spool {
    /// The record with id `id`, whatever its status; nil once delivered (deleted).
    public func record(id: Int64) throws(SpoolError) -> StoredRecord? {
        let found = try read { db in
            var found: StoredRecord?
            try db.forEachRow(
                "SELECT \(Self.columns) FROM failed_kafka_events WHERE id = ?",
                bind: { sqlite3_bind_int64($0, 1, id) }
            ) { found = StoredRecord(row: $0) }
            return found
        }
        if let found { return found }
        return try log.record(id: id)
    }

    /// Records filtered by status, topic and key, in id order. Delivered records are
    /// deleted, so RESOLVED lists none.
    public func list(status: SpoolStatus? = nil, topic: String? = nil, key: [UInt8]? = nil, limit: Int = 100)
        throws(SpoolError) -> [StoredRecord]
    {
        if status == .resolved { return [] }
        let table = try read { db in
            var conditions: [String] = []
            if let status {
                // The partial index serves the rare statuses without a scan of the log.
                if status != .pending { conditions.append("(status != 'PENDING' OR attempts > 0)") }
                conditions.append("status = '\(status.rawValue)'")
            }
            if topic != nil { conditions.append("topic = ?1") }
            if key != nil { conditions.append("key = ?2") }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            var records: [StoredRecord] = []
            try db.forEachRow(
                "SELECT \(Self.columns) FROM failed_kafka_events \(filter) ORDER BY id LIMIT ?3",
                bind: { statement in
                    if let topic { _ = sqlite3_bind_text(statement, 1, topic, -1, sqliteTransient) }
                    if let key {
                        key.withUnsafeBytes {
                            _ = sqlite3_bind_blob(statement, 2, $0.baseAddress, Int32($0.count), sqliteTransient)
                        }
                    }
                    sqlite3_bind_int64(statement, 3, Int64(limit))
                }
            ) { records.append(StoredRecord(row: $0)) }
            return records
        }
        guard status == nil || status == .pending else { return table }
        var logged: [StoredRecord] = []
        var cursor: Int64 = 0
        while logged.count < limit {
            let locations = log.locations(after: cursor, limit: 1_000)
            guard !locations.isEmpty else { break }
            try log.read(locations) { bytes, fields in
                let stored = SpoolCodec.storedRecord(in: bytes, fields)
                cursor = stored.id
                if logged.count < limit && (topic == nil || stored.record.topic == topic)
                    && (key == nil || stored.record.key == key)
                {
                    logged.append(stored)
                }
            }
        }
        return Array((table + logged).sorted { $0.id < $1.id }.prefix(limit))
    }

    /// Puts DLQ and DLQ_FAILED records back to PENDING with no attempts counted; returns how many.
    ///
    /// Replayed records keep their ids, so they are delivered in their original order
    /// relative to what is still pending.
    public func replay(ids: [Int64]? = nil, topic: String? = nil) throws(SpoolError) -> Int {
        let count = try write { db in
            var sql = """
                UPDATE failed_kafka_events SET status = 'PENDING', attempts = 0, next_retry_at = ?, updated_at = ?
                WHERE (status != 'PENDING' OR attempts > 0) AND status IN ('DLQ', 'DLQ_FAILED')
                """
            var arguments: StatementArguments = [Self.now(), Self.now()]
            if let ids {
                sql += " AND id IN (\(ids.map { _ in "?" }.joined(separator: ",")))"
                arguments += StatementArguments(ids)
            }
            if let topic {
                sql += " AND topic = ?"
                arguments += [topic]
            }
            try db.execute(sql: sql, arguments: arguments)
            let count = db.changesCount
            try Self.countOperatorChange(db)
            return count
        }
        try recount()
        return count
    }

    /// Deletes DLQ records (already in `{topic}.dlq`) last updated before `cutoff` (ms since
    /// the epoch); returns how many. DLQ_FAILED records are kept: they are nowhere else.
    public func purgeDeadLettered(olderThan cutoff: Int64) throws(SpoolError) -> Int {
        let count = try write { db in
            try db.execute(
                sql: """
                    DELETE FROM failed_kafka_events
                    WHERE (status != 'PENDING' OR attempts > 0) AND status = 'DLQ' AND updated_at < ?
                    """, arguments: [cutoff])
            let count = db.changesCount
            try Self.countOperatorChange(db)
            return count
        }
        try recount()
        return count
    }

    /// Tells a running gateway that the table changed under it (`recountIfChangedElsewhere`).
    static func countOperatorChange(_ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO spool_counters (name, value) VALUES ('operator_changes', 1)
                ON CONFLICT (name) DO UPDATE SET value = value + 1
                """)
    }
}

extension Spool {
    /// The version of the SQLite library this process loaded, e.g. `3.40.1`.
    public static var sqliteVersion: String { String(cString: sqlite3_libversion()) }
}
