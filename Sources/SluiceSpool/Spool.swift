import Dispatch
import Foundation
import GRDB
import Synchronization

/// How hard SQLite syncs commits to disk (`PRAGMA synchronous`).
public enum SpoolSynchronous: String, Sendable, CaseIterable {
    /// Every commit is on disk before it returns; survives power loss. The default.
    case full = "FULL"
    /// WAL commits may be lost on power loss (not on a process crash).
    case normal = "NORMAL"
    case off = "OFF"
}

/// The SQLite spool: records that could not (yet) go to Kafka, kept in order until delivered.
///
/// Writes from many threads are grouped: `enqueue` calls that arrive while a commit runs
/// are committed together in the next transaction (group commit), and each caller hears
/// back once its records are durable.
public final class Spool: Sendable {
    public let path: String
    private let pool: DatabasePool
    private let maxBytes: Int64
    private let writer = DispatchQueue(label: "sluice.spool.writer")
    private let queued = Mutex<[(records: [SpoolRecord], done: @Sendable (Result<[Int64], SpoolError>) -> Void)]>([])
    /// Bytes of PENDING, DLQ and DLQ_FAILED records: what counts against `maxBytes`.
    private let storedBytes = Atomic<Int64>(0)

    /// Held (`flock`) by the gateway that owns the spool, or -1 for operator tools.
    private let lockDescriptor: Atomic<Int32>

    /// Opens (creating if absent) the spool at `path`; never deletes or replaces an existing file.
    ///
    /// `exclusive` (the gateway) takes a lock that a second gateway on the same file cannot
    /// get: two gateways would each believe they alone know which keys wait in the spool.
    /// Operator commands open it without the lock.
    public init(path: String, synchronous: SpoolSynchronous = .full, maxBytes: Int64 = 1 << 30, exclusive: Bool = false)
        throws(SpoolError)
    {
        self.path = path
        self.maxBytes = maxBytes
        if exclusive {
            let descriptor = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw SpoolError("cannot open \(path).lock: \(String(cString: strerror(errno)))")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                close(descriptor)
                throw SpoolError("another gateway is using the spool at \(path)")
            }
            lockDescriptor = Atomic(descriptor)
        } else {
            lockDescriptor = Atomic(-1)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
            let bytes = try pool.read { db in
                try Int64.fetchOne(
                    db, sql: "SELECT COALESCE(SUM(size), 0) FROM failed_kafka_events WHERE status != 'RESOLVED'")
            }
            storedBytes.store(bytes ?? 0, ordering: .relaxed)
        } catch {
            throw SpoolError("cannot open the spool at \(path): \(error)")
        }
    }

    deinit { releaseLock() }

    /// Lets another gateway take the spool; the owner calls it when it stops.
    public func releaseLock() {
        let descriptor = lockDescriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if descriptor >= 0 { close(descriptor) }
    }

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
        return migrator
    }()

    // MARK: writing

    /// Appends records in order; `done` is called once they are committed (or failed).
    ///
    /// Fails with `isFull` when the spool is at its size cap; nothing is stored then.
    public func enqueue(_ records: [SpoolRecord], done: @escaping @Sendable (Result<[Int64], SpoolError>) -> Void) {
        let startCommit = queued.withLock { queue in
            queue.append((records, done))
            return queue.count == 1
        }
        if startCommit { writer.async { self.commitQueued() } }
    }

    /// Appends records and waits until they are committed; returns their sequence ids.
    @discardableResult
    public func enqueueAndWait(_ records: [SpoolRecord]) throws(SpoolError) -> [Int64] {
        let result = Mutex<Result<[Int64], SpoolError>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        enqueue(records) { outcome in
            result.withLock { $0 = outcome }
            finished.signal()
        }
        finished.wait()
        return try result.withLock { $0! }.get()
    }

    /// Commits every queued batch in one transaction, then reports to each caller.
    private func commitQueued() {
        // Whatever is queued now goes in this transaction; later arrivals start the next one.
        let batches = queued.withLock { queue in queue }
        var outcomes: [Result<[Int64], SpoolError>] = []
        var admitted: [Int] = []
        var bytes = storedBytes.load(ordering: .relaxed)
        for (index, batch) in batches.enumerated() {
            let size = Int64(batch.records.reduce(0) { $0 + $1.byteCount })
            if bytes + size > maxBytes && size > 0 {
                outcomes.append(.failure(SpoolError("the spool is full (\(maxBytes) bytes)", isFull: true)))
            } else {
                bytes += size
                admitted.append(index)
                outcomes.append(.success([]))
            }
        }
        let now = Self.now()
        do {
            let ids = try pool.write { db -> [[Int64]] in
                let insert = try db.cachedStatement(
                    sql: """
                        INSERT INTO failed_kafka_events
                            (seq, event_id, topic, key, headers, value, timestamp, client, created_at, attempts,
                             next_retry_at, last_error, status, updated_at, size)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?, ?)
                        """)
                return try admitted.map { index in
                    try batches[index].records.map { record in
                        try insert.execute(arguments: [
                            record.sequence, record.eventID, record.topic, Data(record.key),
                            HeaderCoding.encode(record.headers),
                            Data(record.value), record.timestamp, record.client, now, record.attempts,
                            record.nextRetryAt, record.reason, now,
                            record.byteCount,
                        ])
                        return db.lastInsertedRowID
                    }
                }
            }
            for (position, index) in admitted.enumerated() { outcomes[index] = .success(ids[position]) }
            storedBytes.store(bytes, ordering: .relaxed)
        } catch {
            for index in admitted { outcomes[index] = .failure(SpoolError("spool write failed: \(error)")) }
        }
        let more = queued.withLock { queue in
            queue.removeFirst(batches.count)
            return !queue.isEmpty
        }
        for (batch, outcome) in zip(batches, outcomes) { batch.done(outcome) }
        if more { writer.async { self.commitQueued() } }
    }

    // MARK: reading

    /// Every (topic, key) with PENDING records, and how many: new records for them queue behind.
    public func pendingKeys() throws(SpoolError) -> [SpoolKey: Int] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT topic, key, COUNT(*) AS n FROM failed_kafka_events WHERE status = 'PENDING'
                    GROUP BY topic, key
                    """)
            var keys: [SpoolKey: Int] = [:]
            for row in rows { keys[SpoolKey(topic: row["topic"], key: [UInt8](row["key"] as Data))] = row["n"] }
            return keys
        }
    }

    /// The highest sequence ever spooled, so a restarted gateway continues above it.
    public func maxSequence() throws(SpoolError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM failed_kafka_events") ?? 0 }
    }

    /// PENDING records ready to deliver, in sequence order: for each key whose first PENDING
    /// record is due at `now`, that key's PENDING records (up to `limit` in all).
    public func due(now: Int64, limit: Int) throws(SpoolError) -> [StoredRecord] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT e.* FROM failed_kafka_events e
                    JOIN (SELECT topic, key, MIN(seq) AS head FROM failed_kafka_events
                          WHERE status = 'PENDING' GROUP BY topic, key) h
                      ON e.topic = h.topic AND e.key = h.key
                    JOIN failed_kafka_events first
                      ON first.topic = h.topic AND first.key = h.key AND first.seq = h.head AND first.status = 'PENDING'
                    WHERE e.status = 'PENDING' AND first.next_retry_at <= ?
                    ORDER BY e.seq
                    LIMIT ?
                    """, arguments: [now, limit])
            return rows.map(Self.stored)
        }
    }

    /// The record with sequence id `id`, whatever its status.
    public func record(id: Int64) throws(SpoolError) -> StoredRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM failed_kafka_events WHERE id = ?", arguments: [id]).map(
                Self.stored)
        }
    }

    /// Records filtered by status, topic and key, in sequence order.
    public func list(status: SpoolStatus? = nil, topic: String? = nil, key: [UInt8]? = nil, limit: Int = 100)
        throws(SpoolError) -> [StoredRecord]
    {
        try read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            if let topic {
                conditions.append("topic = ?")
                arguments += [topic]
            }
            if let key {
                conditions.append("key = ?")
                arguments += [Data(key)]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            return try Row.fetchAll(
                db, sql: "SELECT * FROM failed_kafka_events \(filter) ORDER BY seq LIMIT ?", arguments: arguments
            ).map(Self.stored)
        }
    }

    /// Record counts by status.
    public func counts() throws(SpoolError) -> [SpoolStatus: Int] {
        try read { db in
            var counts = Dictionary(uniqueKeysWithValues: SpoolStatus.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(
                db, sql: "SELECT status, COUNT(*) AS n FROM failed_kafka_events GROUP BY status")
            {
                if let status = SpoolStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    /// PENDING, DLQ and DLQ_FAILED counts per topic.
    public func countsByTopic() throws(SpoolError) -> [String: [SpoolStatus: Int]] {
        try read { db in
            var result: [String: [SpoolStatus: Int]] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT topic, status, COUNT(*) AS n FROM failed_kafka_events GROUP BY topic, status")
            {
                if let status = SpoolStatus(rawValue: row["status"]) {
                    result[row["topic"], default: [:]][status] = row["n"]
                }
            }
            return result
        }
    }

    // MARK: status changes

    /// Marks records delivered.
    public func markResolved(_ ids: [Int64]) throws(SpoolError) {
        try update(ids, sql: "UPDATE failed_kafka_events SET status = 'RESOLVED', updated_at = ? WHERE id = ?")
    }

    /// Records a broker-reported failure: counts an attempt and schedules the next one.
    public func recordFailure(id: Int64, attempts: Int, nextRetryAt: Int64, error: String) throws(SpoolError) {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE failed_kafka_events SET attempts = ?, next_retry_at = ?, last_error = ?, updated_at = ?
                    WHERE id = ? AND status = 'PENDING'
                    """, arguments: [attempts, nextRetryAt, error, Self.now(), id])
        }
    }

    /// Moves a record to DLQ (sent to the dead-letter topic) or DLQ_FAILED after `attempts`.
    public func markDeadLettered(id: Int64, status: SpoolStatus, attempts: Int, error: String) throws(SpoolError) {
        precondition(status == .dlq || status == .dlqFailed)
        try write { db in
            try db.execute(
                sql:
                    "UPDATE failed_kafka_events SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?",
                arguments: [status.rawValue, attempts, error, Self.now(), id])
        }
    }

    /// Puts DLQ and DLQ_FAILED records back to PENDING with no attempts counted; returns how many.
    public func replay(ids: [Int64]? = nil, topic: String? = nil) throws(SpoolError) -> Int {
        try write { db in
            var sql = """
                UPDATE failed_kafka_events SET status = 'PENDING', attempts = 0, next_retry_at = ?, updated_at = ?
                WHERE status IN ('DLQ', 'DLQ_FAILED')
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
            return db.changesCount
        }
    }

    /// Deletes RESOLVED records last updated before `olderThan` (ms since the epoch); returns how many.
    public func purgeResolved(olderThan cutoff: Int64) throws(SpoolError) -> Int {
        try write { db in
            try db.execute(
                sql: "DELETE FROM failed_kafka_events WHERE status = 'RESOLVED' AND updated_at < ?", arguments: [cutoff]
            )
            return db.changesCount
        }
    }

    // MARK: helpers

    private func update(_ ids: [Int64], sql: String) throws(SpoolError) {
        guard !ids.isEmpty else { return }
        let now = Self.now()
        try write { db in
            let statement = try db.cachedStatement(sql: sql)
            for id in ids { try statement.execute(arguments: [now, id]) }
        }
        try refreshStoredBytes()
    }

    private func refreshStoredBytes() throws(SpoolError) {
        let bytes = try read { db in
            try Int64.fetchOne(
                db, sql: "SELECT COALESCE(SUM(size), 0) FROM failed_kafka_events WHERE status != 'RESOLVED'")
        }
        storedBytes.store(bytes ?? 0, ordering: .relaxed)
    }

    private func read<T>(_ body: (Database) throws -> T) throws(SpoolError) -> T {
        do { return try pool.read(body) } catch { throw SpoolError("spool read failed: \(error)") }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(SpoolError) -> T {
        do { return try pool.write(body) } catch { throw SpoolError("spool write failed: \(error)") }
    }

    static func stored(_ row: Row) -> StoredRecord {
        StoredRecord(
            id: row["id"],
            record: SpoolRecord(
                sequence: row["seq"], eventID: row["event_id"], topic: row["topic"], key: [UInt8](row["key"] as Data),
                headers: HeaderCoding.decode(row["headers"]), value: [UInt8](row["value"] as Data),
                timestamp: row["timestamp"], client: row["client"], reason: ""),
            status: SpoolStatus(rawValue: row["status"]) ?? .pending, attempts: row["attempts"],
            nextRetryAt: row["next_retry_at"], createdAt: row["created_at"], lastError: row["last_error"],
            updatedAt: row["updated_at"])
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
