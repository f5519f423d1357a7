import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import SluiceSystem
import Synchronization

/// How hard SQLite syncs commits to disk (`PRAGMA synchronous`).
public enum SpoolSynchronous: String, Sendable, CaseIterable {
    /// Every commit is on disk before it returns; survives power loss. The default.
    case full = "FULL"
    /// WAL commits may be lost on power loss (not on a process crash).
    case normal = "NORMAL"
    case off = "OFF"
}

/// The SQLite spool: an ordered log of records that could not (yet) go to Kafka.
///
/// Rows are keyed by their routing sequence (`id`), appended in routing order and drained
/// by a cursor over that key; delivered rows are deleted in batches, so an outage costs
/// O(1) per record whatever the backlog. Rows a reachable broker rejected stay PENDING with
/// attempts and a next retry time until they are delivered or dead-lettered (DLQ,
/// DLQ_FAILED), and are found through a small partial index.
///
/// Writes from many threads are grouped: `enqueue` calls that arrive while a commit runs
/// are committed together in the next transaction (group commit), and each caller hears
/// back once its records are durable.
public final class Spool: Sendable {
    public let path: String
    let pool: DatabasePool
    /// Records spooled in routing order; the table keeps those that need per-record state.
    let log: SpoolLog
    private let maxBytes: Int64
    /// Whether this process owns the spool (the gateway): only the owner appends to the log.
    private let exclusive: Bool
    private let writer = WorkerThread(name: "sluice-spool-w")
    /// Callers hear back here, in commit order, so the writer goes on to the next commit.
    private let completions = WorkerThread(name: "sluice-spool-d")
    private let queued = Mutex<[QueuedBatch]>([])
    /// Record bytes one commit takes at most (it takes at least one batch).
    static let commitBytes: Int64 = 8 << 20

    /// Records waiting for the next commit: encoded for the log when the log can take
    /// them, else as records for the table.
    private struct QueuedBatch {
        var records: [SpoolRecord] = []
        var encoded: SpoolBatch?
        /// What the records count against the size cap.
        var size: Int64
        var done: @Sendable (Result<[Int64], SpoolError>) -> Void

        var ids: [Int64] { encoded?.ids ?? records.map(\.sequence) }
        /// The records for the table (decoded when they were encoded for the log).
        var tableRecords: [SpoolRecord] { encoded?.records() ?? records }
    }
    /// Counts and bytes by status and topic, kept by this process and recounted by `recount()`.
    let tally = Mutex(SpoolTally())
    /// The `operator_changes` counter when last counted: operator commands (replay, purge)
    /// bump it, so the gateway recounts after another process changed the table.
    private let countedVersion = Atomic<Int>(-1)

    private let checkpointer: Checkpointer?

    /// Held (`flock`) by the gateway that owns the spool, or -1 for operator tools.
    private let lockDescriptor: Atomic<Int32>

    /// Opens (creating if absent) the spool at `path`; never deletes or replaces an existing file.
    ///
    /// The file, its WAL and shared-memory files and its lock file get `fileMode` (0600 by
    /// default: event payloads are private). `exclusive` (the gateway) takes a lock that a
    /// second gateway on the same file cannot get: two gateways would each believe they
    /// alone know which keys wait in the spool. Operator commands open it without the lock.
    public init(
        path: String, synchronous: SpoolSynchronous = .full, maxBytes: Int64 = 1 << 30, exclusive: Bool = false,
        fileMode: mode_t = 0o600, segmentBytes: Int = 64 << 20
    ) throws(SpoolError) {
        self.path = path
        self.maxBytes = maxBytes
        self.exclusive = exclusive
        if exclusive {
            let descriptor = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, fileMode)
            guard descriptor >= 0 else {
                throw SpoolError("cannot open \(path).lock: \(errnoText())")
            }
            guard Self.lock(descriptor) else {
                close(descriptor)
                throw SpoolError("another gateway is using the spool at \(path)")
            }
            _ = fchmod(descriptor, fileMode)
            lockDescriptor = Atomic(descriptor)
        } else {
            lockDescriptor = Atomic(-1)
        }
        // SQLite gives the WAL and shared-memory files the main file's mode, so setting it
        // on the main file (new or old) covers all three.
        let file = open(path, O_CREAT | O_RDWR | O_CLOEXEC, fileMode)
        if file >= 0 {
            if exclusive { _ = fchmod(file, fileMode) }
            close(file)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 2
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
            // The gateway checkpoints from a connection of its own, off the writer's thread;
            // the writer's own checkpoint, at a high mark, finds little left to copy and
            // rewinds the WAL, so it stays about that size.
            if exclusive {
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384; PRAGMA journal_size_limit = 67108864")
            }
        }
        let floor: Int64
        let inTable: Set<Int64>
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
            checkpointer = exclusive ? try Checkpointer(path: path, synchronous: synchronous) : nil
            (floor, inTable) = try pool.read { db in
                let floor =
                    try Int64.fetchOne(db, sql: "SELECT value FROM spool_counters WHERE name = 'log_floor'") ?? 0
                let ids = try Int64.fetchSet(
                    db, sql: "SELECT id FROM failed_kafka_events WHERE id > ?", arguments: [floor])
                return (floor, ids)
            }
        } catch {
            throw SpoolError("cannot open the spool at \(path): \(error)")
        }
        log = try SpoolLog(
            directory: path + "-log", writable: exclusive, fileMode: fileMode, segmentBytes: segmentBytes, floor: floor,
            isInTable: inTable.contains)
        try recountIfChangedElsewhere()
    }

    /// Takes the exclusive lock on `descriptor`, trying for up to a second.
    ///
    /// A lock lives as long as any copy of its descriptor: a process forked by another
    /// thread holds one until it execs (`O_CLOEXEC` acts only then), and a gateway that has
    /// just stopped may still be exiting. Both last milliseconds; a second gateway lasts.
    private static func lock(_ descriptor: Int32) -> Bool {
        for _ in 0..<100 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK else { return false }
            usleep(10_000)
        }
        return false
    }

    /// What opening repaired (a torn tail of the log cut off), for the owner to log.
    public var repairs: [String] { log.repairs }

    deinit { releaseLock() }

    /// Lets another gateway take the spool; the owner calls it when it stops.
    public func releaseLock() {
        let descriptor = lockDescriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if descriptor >= 0 { close(descriptor) }
    }

    // MARK: writing

    /// Appends records; `done` is called once they are committed (or failed).
    ///
    /// Fails with `isFull` when the spool is at its size cap; nothing is stored then.
    public func enqueue(_ records: [SpoolRecord], done: @escaping @Sendable (Result<[Int64], SpoolError>) -> Void) {
        // Encoded here, on the caller's thread, so the single writer only writes.
        if exclusive, let encoded = SpoolBatch(records, createdAt: Self.now()) {
            enqueue(QueuedBatch(encoded: encoded, size: encoded.size, done: done))
        } else {
            enqueue(QueuedBatch(records: records, size: Int64(records.reduce(0) { $0 + $1.byteCount }), done: done))
        }
    }

    /// Appends records the caller encoded; `done` is called once they are committed (or failed).
    public func enqueue(_ batch: SpoolBatch, done: @escaping @Sendable (Result<[Int64], SpoolError>) -> Void) {
        if exclusive {
            enqueue(QueuedBatch(encoded: batch, size: batch.size, done: done))
        } else {
            enqueue(QueuedBatch(records: batch.records(), size: batch.size, done: done))
        }
    }

    private func enqueue(_ batch: QueuedBatch) {
        let startCommit = queued.withLock { queue in
            queue.append(batch)
            return queue.count == 1
        }
        if startCommit { writer.async { self.commitQueued() } }
    }

    /// Appends records and waits until they are committed; returns their ids (sequences).
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

    /// Waits until every record enqueued before this call is committed (or failed).
    public func waitForQueuedCommits() {
        _ = try? enqueueAndWait([])
    }

    /// Commits the queued batches (up to `commitBytes`) in one transaction, then reports to each caller.
    private func commitQueued() {
        // What is queued now goes in this commit; later arrivals start the next one. The cap
        // bounds the writer's buffer and the time to the first acknowledgement.
        let batches = queued.withLock { queue in
            var size: Int64 = 0
            let count = queue.prefix { batch in
                defer { size += batch.size }
                return size < Self.commitBytes
            }.count
            return Array(queue.prefix(count))
        }
        var outcomes: [Result<[Int64], SpoolError>] = []
        var admitted: [Int] = []
        var bytes = usage.bytes
        for (index, batch) in batches.enumerated() {
            let size = batch.size
            if bytes + size > maxBytes && size > 0 {
                outcomes.append(.failure(SpoolError("the spool is full (\(maxBytes) bytes)", isFull: true)))
            } else {
                bytes += size
                admitted.append(index)
                outcomes.append(.success([]))
            }
        }
        if !admitted.isEmpty {
            do {
                let (logged, tabled) = split(admitted.map { batches[$0] })
                try log.append(logged)
                if !tabled.isEmpty {
                    try pool.write { db in
                        var insert = try RowInserter(db)
                        try insert.append(tabled)
                    }
                    tally.withLock { tally in
                        tally.add(tabled)
                        tally.bytes += Int64(tabled.reduce(0) { $0 + $1.byteCount })
                    }
                }
                for index in admitted { outcomes[index] = .success(batches[index].ids) }
            } catch {
                for index in admitted { outcomes[index] = .failure(SpoolError("spool write failed: \(error)")) }
            }
        }
        let more = queued.withLock { queue in
            queue.removeFirst(batches.count)
            return !queue.isEmpty
        }
        if more { writer.async { self.commitQueued() } }
        let results = outcomes
        completions.async {
            for (batch, outcome) in zip(batches, results) { batch.done(outcome) }
        }
    }

    /// Which batches go to the log (encoded, and above everything it holds) and which
    /// records to the table: those with delivery state, those of an operator's spool, and
    /// late ones, routed before records the log already holds.
    private func split(_ batches: [QueuedBatch]) -> (log: [SpoolBatch], table: [SpoolRecord]) {
        var last = log.lastID
        var logged: [SpoolBatch] = []
        var table: [SpoolRecord] = []
        for batch in batches {
            if let encoded = batch.encoded, let first = encoded.ids.first, first > last {
                logged.append(encoded)
                last = encoded.ids[encoded.ids.count - 1]
            } else {
                table += batch.tableRecords
            }
        }
        return (logged, table)
    }

    // MARK: counts

    /// Record counts by status; RESOLVED counts every record delivered from this spool.
    public func counts() -> [SpoolStatus: Int] {
        let logged = log.pendingByTopic().values.reduce(0, +)
        return tally.withLock { tally in
            [
                .pending: tally.total(\.pending) + logged, .resolved: tally.resolved, .dlq: tally.total(\.dlq),
                .dlqFailed: tally.total(\.dlqFailed),
            ]
        }
    }

    /// Bytes of undelivered records held, and the cap past which publishers get `OVERLOADED`.
    /// The same sum the size cap is checked against: the table's bytes and the log's.
    public var usage: (bytes: Int64, maxBytes: Int64) { (tally.withLock { $0.bytes } + log.bytes, maxBytes) }

    /// PENDING, DLQ and DLQ_FAILED counts per topic.
    public func countsByTopic() -> [String: [SpoolStatus: Int]] {
        let logged = log.pendingByTopic()
        var counts = tally.withLock { tally -> [String: [SpoolStatus: Int]] in
            tally.topics.mapValues {
                [.pending: max(0, $0.pending), .dlq: max(0, $0.dlq), .dlqFailed: max(0, $0.dlqFailed)]
            }
        }
        for (topic, count) in logged {
            counts[topic, default: [SpoolStatus.pending: 0, .dlq: 0, .dlqFailed: 0]][.pending, default: 0] += count
        }
        return counts
    }

    /// Recounts when another process (an operator command) changed the file since the last count.
    ///
    /// A read: it never waits for the writer, so STATS stays quick while the drain commits.
    public func recountIfChangedElsewhere() throws(SpoolError) {
        let version = try read { db in
            try Int.fetchOne(db, sql: "SELECT value FROM spool_counters WHERE name = 'operator_changes'") ?? 0
        }
        if countedVersion.exchange(version, ordering: .relaxed) != version { try recount() }
    }

    /// Recounts from the file.
    public func recount() throws(SpoolError) {
        let fresh = try read { db in
            var tally = SpoolTally()
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT topic, status, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes
                    FROM failed_kafka_events GROUP BY topic, status
                    """)
            {
                let count: Int = row["n"]
                tally.bytes += row["bytes"] as Int64
                let topic: String = row["topic"]
                switch SpoolStatus(rawValue: row["status"]) {
                case .pending: tally.topics[topic, default: .init()].pending += count
                case .dlq: tally.topics[topic, default: .init()].dlq += count
                case .dlqFailed: tally.topics[topic, default: .init()].dlqFailed += count
                case .resolved, nil: break
                }
            }
            tally.resolved =
                try Int.fetchOne(db, sql: "SELECT value FROM spool_counters WHERE name = 'resolved'") ?? 0
            return tally
        }
        tally.withLock { $0 = fresh }
    }

    // MARK: helpers

    func read<T>(_ body: (Database) throws -> T) throws(SpoolError) -> T {
        do { return try pool.read(body) } catch { throw SpoolError("spool read failed: \(error)") }
    }

    func write<T>(_ body: (Database) throws -> T) throws(SpoolError) -> T {
        do { return try pool.write(body) } catch { throw SpoolError("spool write failed: \(error)") }
    }

    static func now() -> Int64 { wallClockMilliseconds() }
}

/// Counts of PENDING, DLQ and DLQ_FAILED records per topic, delivered records, and bytes held.
struct SpoolTally {
    struct Topic {
        var pending = 0
        var dlq = 0
        var dlqFailed = 0
    }

    var topics: [String: Topic] = [:]
    var resolved = 0
    /// Bytes of every record held (any status): what counts against the size cap.
    var bytes: Int64 = 0

    func total(_ field: KeyPath<Topic, Int>) -> Int { topics.values.reduce(0) { $0 + max(0, $1[keyPath: field]) } }

    /// Counts records as pending (their bytes are added by the caller, who summed them).
    mutating func add(_ records: [SpoolRecord]) {
        var run: (topic: String, count: Int)?
        for record in records {
            if run?.topic == record.topic {
                run!.count += 1
            } else {
                if let run { topics[run.topic, default: .init()].pending += run.count }
                run = (record.topic, 1)
            }
        }
        if let run { topics[run.topic, default: .init()].pending += run.count }
    }
}
