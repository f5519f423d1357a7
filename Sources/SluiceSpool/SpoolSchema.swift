import Foundation
import GRDB
import GRDBSQLite

extension Spool {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 failed_kafka_events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE failed_kafka_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        seq INTEGER NOT NULL,
                        event_id TEXT NOT NULL,
                        topic TEXT NOT NULL,
                        key BLOB NOT NULL,
                        headers BLOB NOT NULL,
                        value BLOB NOT NULL,
                        timestamp INTEGER NOT NULL,
                        client TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_retry_at INTEGER NOT NULL,
                        last_error TEXT,
                        status TEXT NOT NULL DEFAULT 'PENDING'
                            CHECK (status IN ('PENDING', 'RESOLVED', 'DLQ', 'DLQ_FAILED')),
                        updated_at INTEGER NOT NULL,
                        size INTEGER NOT NULL
                    );
                    CREATE INDEX failed_kafka_events_pending ON failed_kafka_events (status, topic, key, seq);
                    CREATE INDEX failed_kafka_events_status_time ON failed_kafka_events (status, updated_at);
                    """)
        }
        // v2: an ordered log keyed by routing sequence. Delivered rows are deleted (their
        // count kept in spool_counters); v1's RESOLVED rows are counted and dropped. The
        // per-key index goes: only the few rows a broker rejected, and dead letters, are
        // looked up apart from the cursor, through a partial index.
        migrator.registerMigration("v2 ordered log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE spool_log (
                        id INTEGER PRIMARY KEY,
                        event_id TEXT NOT NULL,
                        topic TEXT NOT NULL,
                        key BLOB NOT NULL,
                        headers BLOB NOT NULL,
                        value BLOB NOT NULL,
                        timestamp INTEGER NOT NULL,
                        client TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_retry_at INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT,
                        status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DLQ', 'DLQ_FAILED')),
                        updated_at INTEGER NOT NULL,
                        size INTEGER NOT NULL
                    );
                    INSERT INTO spool_log
                        SELECT seq, event_id, topic, key, headers, value, timestamp, client, created_at, attempts,
                               next_retry_at, last_error, status, updated_at, size
                        FROM failed_kafka_events WHERE status != 'RESOLVED' ORDER BY seq;
                    CREATE TABLE spool_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO spool_counters
                        SELECT 'resolved', COUNT(*) FROM failed_kafka_events WHERE status = 'RESOLVED';
                    DROP TABLE failed_kafka_events;
                    ALTER TABLE spool_log RENAME TO failed_kafka_events;
                    CREATE INDEX failed_kafka_events_held ON failed_kafka_events (status, id)
                        WHERE status != 'PENDING' OR attempts > 0;
                    """)
        }
        // v3: each row says which `SpoolCodec` version its header blob is in. Rows written
        // before (and by an older Sluice on the same file) are version 1, the default.
        migrator.registerMigration("v3 codec version") { db in
            try db.execute(sql: "ALTER TABLE failed_kafka_events ADD COLUMN codec INTEGER NOT NULL DEFAULT 1")
        }
        return migrator
    }()

    /// The columns every read selects, in `StoredRecord(row:)`'s order.
    static let columns =
        "id, event_id, topic, key, headers, value, timestamp, client, created_at, attempts, next_retry_at, last_error, status, updated_at, codec"
}

/// Inserts rows through one prepared statement, binding straight from the records' bytes.
struct RowInserter {
    private let statement: SQLiteStatement
    private let now = Spool.now()
    private var headers: [UInt8] = []

    init(_ db: Database) throws {
        statement = try db.cachedStatement(
            sql: """
                INSERT INTO failed_kafka_events
                    (id, event_id, topic, key, headers, value, timestamp, client, created_at, attempts,
                     next_retry_at, last_error, updated_at, size, codec)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \(SpoolCodec.version))
                """
        ).sqliteStatement
    }

    /// Inserts `records`, stamped as spooled now unless they carry their first spooling time.
    mutating func append(_ records: [SpoolRecord]) throws {
        for record in records {
            let createdAt = record.createdAt ?? now
            headers.removeAll(keepingCapacity: true)
            SpoolCodec.appendHeaders(record.headers, to: &headers)
            // Bound without copies (SQLITE_STATIC): every buffer outlives the step.
            var eventID = record.eventID
            var topic = record.topic
            var client = record.client
            var reason = record.reason
            let result = eventID.withUTF8 { eventID in
                topic.withUTF8 { topic in
                    client.withUTF8 { client in
                        reason.withUTF8 { reason in
                            record.key.withUnsafeBytes { key in
                                record.value.withUnsafeBytes { value in
                                    headers.withUnsafeBytes { headers in
                                        sqlite3_reset(statement)
                                        sqlite3_bind_int64(statement, 1, record.sequence)
                                        bind(2, text: eventID)
                                        bind(3, text: topic)
                                        bind(4, blob: key)
                                        bind(5, blob: headers)
                                        bind(6, blob: value)
                                        sqlite3_bind_int64(statement, 7, record.timestamp)
                                        bind(8, text: client)
                                        sqlite3_bind_int64(statement, 9, createdAt)
                                        sqlite3_bind_int64(statement, 10, Int64(record.attempts))
                                        sqlite3_bind_int64(statement, 11, record.nextRetryAt)
                                        bind(12, text: reason)
                                        sqlite3_bind_int64(statement, 13, now)
                                        sqlite3_bind_int64(statement, 14, Int64(record.byteCount))
                                        let result = sqlite3_step(statement)
                                        sqlite3_clear_bindings(statement)
                                        return result
                                    }
                                }
                            }
                        }
                    }
                }
            }
            guard result == SQLITE_DONE else {
                let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(statement)))
                sqlite3_reset(statement)
                throw SpoolError("insert of record \(record.sequence) failed: \(message) (\(result))")
            }
        }
        sqlite3_reset(statement)
    }

    private func bind(_ index: Int32, blob bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress {
            _ = sqlite3_bind_blob(statement, index, base, Int32(bytes.count), nil)
        } else {
            _ = sqlite3_bind_zeroblob(statement, index, 0)  // empty, not NULL (the columns are NOT NULL)
        }
    }

    private func bind(_ index: Int32, text: UnsafeBufferPointer<UInt8>) {
        if let base = text.baseAddress {
            let chars = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            _ = sqlite3_bind_text(statement, index, chars, Int32(text.count), nil)
        } else {
            _ = sqlite3_bind_text(statement, index, "", 0, nil)
        }
    }
}

/// SQLite copies the bound bytes before the bind call returns.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension StoredRecord {
    /// Reads the current row of a statement that selected `Spool.columns`.
    init(row statement: SQLiteStatement) {
        func blob(_ column: Int32) -> [UInt8] {
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let base = sqlite3_column_blob(statement, column) else { return [] }
            return Array(UnsafeRawBufferPointer(start: base, count: count))
        }
        func text(_ column: Int32) -> String? {
            guard let base = sqlite3_column_text(statement, column) else { return nil }
            return String(cString: base)
        }
        func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
        let headers = sqlite3_column_blob(statement, 4).map {
            SpoolCodec.headers(
                in: UnsafeRawBufferPointer(start: $0, count: Int(sqlite3_column_bytes(statement, 4))),
                version: UInt8(truncatingIfNeeded: int(14)))
        }
        self.init(
            id: int(0),
            record: SpoolRecord(
                sequence: int(0), eventID: text(1) ?? "", topic: text(2) ?? "", key: blob(3), headers: headers ?? [],
                value: blob(5), timestamp: int(6), client: text(7) ?? "", reason: ""),
            status: text(12).flatMap(SpoolStatus.init(rawValue:)) ?? .pending, attempts: Int(int(9)),
            nextRetryAt: int(10), createdAt: int(8), lastError: text(11), updatedAt: int(13))
    }
}

extension Database {
    /// Runs `sql` with `bind` applied and calls `each` on every row, through the raw statement.
    func forEachRow(
        _ sql: String, bind: (SQLiteStatement) -> Void = { _ in }, _ each: (SQLiteStatement) throws -> Void
    ) throws {
        let statement = try cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        bind(statement)
        while true {
            let result = sqlite3_step(statement)
            if result == SQLITE_DONE { return }
            guard result == SQLITE_ROW else {
                throw SpoolError(
                    "query failed: \(String(cString: sqlite3_errmsg(sqlite3_db_handle(statement)))) (\(result))")
            }
            try each(statement)
        }
    }
}
