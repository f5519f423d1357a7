import Foundation
import SluiceSpool
import SluiceTestSupport
import Synchronization
import Testing

nonisolated(unsafe) private var nextSequence: Int64 = 0
private let sequenceLock = NSLock()

func spoolRecord(_ topic: String = "events", key: String, _ value: String, sequence: Int64? = nil) -> SpoolRecord {
    let assigned =
        sequence
        ?? sequenceLock.withLock {
            nextSequence += 1
            return nextSequence
        }
    return SpoolRecord(
        sequence: assigned, eventID: UUID().uuidString.lowercased(), topic: topic, key: Array(key.utf8),
        headers: [SpoolHeader(name: "event-type", value: Array("t".utf8))], value: Array(value.utf8), timestamp: 1,
        client: "test", reason: "circuit open")
}

/// A page's records as (id, key, value, headers) for comparisons.
func records(_ page: PendingPage) -> [(id: Int64, key: String, value: String, headers: [String: String])] {
    page.bytes.withUnsafeBytes { bytes in
        page.entries.map { entry in
            var headers: [String: String] = [:]
            page.forEachHeader(of: entry) {
                headers[String(decoding: $0, as: UTF8.self)] = String(decoding: $1, as: UTF8.self)
            }
            return (
                entry.id, String(decoding: bytes[entry.key], as: UTF8.self),
                String(decoding: bytes[entry.value], as: UTF8.self), headers
            )
        }
    }
}

@Suite("SQLite spool")
struct SpoolTests {
    let directory: String
    init() throws { directory = try temporaryDirectory() }

    /// Every behaviour holds for the gateway's spool (`exclusive`: records go to the log)
    /// and for one opened without the lock (records go to the table).
    @Test(arguments: [true, false]) func recordsSurviveReopeningInOrder(exclusive: Bool) throws {
        let path = directory + "/spool.db"
        do {
            let spool = try Spool(path: path, exclusive: exclusive)
            let ids = try spool.enqueueAndWait([spoolRecord(key: "a", "1"), spoolRecord(key: "b", "1")])
            #expect(ids.count == 2 && ids[0] < ids[1])
            try spool.enqueueAndWait([spoolRecord(key: "a", "2")])
            spool.releaseLock()
        }
        let reopened = try Spool(path: path, exclusive: exclusive)
        let pending = records(try reopened.pending(after: 0, limit: 10))
        #expect(try reopened.pending(after: 0, limit: 10).entries.allSatisfy { $0.inLog == exclusive })
        #expect(pending.map(\.value) == ["1", "1", "2"])
        #expect(pending.map(\.key) == ["a", "b", "a"])
        #expect(pending[0].headers == ["event-type": "t"])
        #expect(
            try reopened.pendingKeys() == [
                SpoolKey(topic: "events", key: Array("a".utf8)): 2, SpoolKey(topic: "events", key: Array("b".utf8)): 1,
            ])
        #expect(try reopened.maxSequence() == pending.map(\.id).max())
        #expect(reopened.counts()[.pending] == 3)
    }

    /// A copy of the lock's descriptor in a process forked by another thread holds it until
    /// that process execs; opening waits for such a holder rather than fail at once.
    @Test func theLockIsTakenOnceAShortLivedHolderLetsGo() throws {
        let path = directory + "/held.db"
        let holder = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        #expect(holder >= 0 && flock(holder, LOCK_EX | LOCK_NB) == 0)
        #expect(throws: SpoolError.self, "refused while the lock is held") {
            _ = try Spool(path: path, exclusive: true)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) { close(holder) }
        let spool = try Spool(path: path, exclusive: true)
        #expect(try spool.enqueueAndWait([spoolRecord(key: "a", "1")]).count == 1)
    }

    @Test(arguments: [true, false]) func theCursorPagesInSequenceOrderAndDeliveredRecordsLeave(exclusive: Bool) throws {
        let spool = try Spool(path: directory + "/cursor.db", exclusive: exclusive)
        let ids = try spool.enqueueAndWait((0..<10).map { spoolRecord(key: "k\($0 % 3)", "\($0)") })
        let first = try spool.pending(after: 0, limit: 4)
        #expect(first.entries.map(\.id) == Array(ids[0..<4]))
        let second = try spool.pending(after: first.entries[3].id, limit: 4)
        #expect(second.entries.map(\.id) == Array(ids[4..<8]))
        #expect(first.topics == ["events"] && second.entries.allSatisfy { $0.topic == 0 })
        var delivered = SpoolRemoval()
        for entry in first.entries + second.entries { delivered.add(id: entry.id, topic: "events", size: entry.size) }
        try spool.remove(delivered)
        #expect(try spool.pending(after: 0, limit: 100).entries.map(\.id) == Array(ids[8...]))
        #expect(spool.counts() == [.pending: 2, .resolved: 8, .dlq: 0, .dlqFailed: 0])
        #expect(try spool.record(id: ids[0]) == nil, "a delivered record is deleted, not kept as RESOLVED")
        spool.releaseLock()
        let reopened = try Spool(path: directory + "/cursor.db", exclusive: exclusive)
        #expect(reopened.counts()[.resolved] == 8, "the resolved count persists")
        #expect(try reopened.pending(after: 0, limit: 100).entries.map(\.id) == Array(ids[8...]))
    }

    @Test(arguments: [true, false]) func rejectedRecordsAreFoundApartFromTheLog(exclusive: Bool) throws {
        let spool = try Spool(path: directory + "/s.db", exclusive: exclusive)
        let ids = try spool.enqueueAndWait([
            spoolRecord(key: "a", "1"), spoolRecord(key: "a", "2"), spoolRecord(key: "b", "1"),
        ])
        let later = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
        try spool.recordFailure(id: ids[0], attempts: 1, nextRetryAt: later, error: "broker said no")
        let rejected = try spool.rejected()
        #expect(rejected.map(\.id) == [ids[0]])
        #expect(rejected.first?.attempts == 1 && rejected.first?.nextRetryAt == later)
        #expect(rejected.first?.lastError == "broker said no")
        #expect(try spool.pending(after: 0, limit: 10).entries.map(\.id) == ids, "the cursor still sees every record")
        #expect(spool.counts()[.pending] == 3)
    }

    @Test(arguments: [true, false]) func lateArrivalsSortBySequenceNotArrival(exclusive: Bool) throws {
        let spool = try Spool(path: directory + "/late.db", exclusive: exclusive)
        try spool.enqueueAndWait([
            spoolRecord(key: "a", "third", sequence: 30), spoolRecord(key: "a", "first", sequence: 10),
        ])
        try spool.enqueueAndWait([spoolRecord(key: "a", "second", sequence: 20)])
        let values = records(try spool.pending(after: 0, limit: 10)).map(\.value)
        #expect(values == ["first", "second", "third"])
        #expect(records(try spool.pending(after: 10, limit: 1)).map(\.value) == ["second"])
        #expect(spool.counts()[.pending] == 3)
    }

    @Test func theFilesArePrivate() throws {
        let path = directory + "/private.db"
        let spool = try Spool(path: path, exclusive: true)
        try spool.enqueueAndWait([spoolRecord(key: "a", "secret")])
        let segments = try FileManager.default.contentsOfDirectory(atPath: path + "-log").map { path + "-log/" + $0 }
        #expect(segments.count == 1)
        let logMode = (try FileManager.default.attributesOfItem(atPath: path + "-log")[.posixPermissions] as? NSNumber)
        #expect(logMode?.intValue == 0o700)
        for file in [path, path + "-wal", path + "-shm", path + ".lock"] + segments {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600, "\(file) has mode \(String(mode ?? -1, radix: 8))")
        }
    }

    @Test func aVersionOneSpoolIsMigratedWithoutLosingRecords() throws {
        let path = directory + "/v1.db"
        let v1 = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1 failed_kafka_events');
            CREATE TABLE failed_kafka_events (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL,
                event_id TEXT NOT NULL, topic TEXT NOT NULL, key BLOB NOT NULL, headers BLOB NOT NULL,
                value BLOB NOT NULL, timestamp INTEGER NOT NULL, client TEXT NOT NULL, created_at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, next_retry_at INTEGER NOT NULL, last_error TEXT,
                status TEXT NOT NULL DEFAULT 'PENDING', updated_at INTEGER NOT NULL, size INTEGER NOT NULL);
            INSERT INTO failed_kafka_events (seq, event_id, topic, key, headers, value, timestamp, client, created_at,
                attempts, next_retry_at, status, updated_at, size) VALUES
                (7, 'e7', 't', X'61', X'0000', X'31', 1, 'c', 1, 0, 0, 'PENDING', 1, 3),
                (5, 'e5', 't', X'61', X'0000', X'30', 1, 'c', 1, 0, 0, 'RESOLVED', 1, 3),
                (9, 'e9', 't', X'62', X'0000', X'32', 1, 'c', 1, 3, 0, 'DLQ', 1, 3),
                (6, 'e6', 't', X'61', X'0000', X'35', 1, 'c', 1, 1, 99, 'PENDING', 1, 3);
            """
        let created = try run("/usr/bin/sqlite3", [path, v1])
        #expect(created.status == 0, "\(created.output)")
        let spool = try Spool(path: path)
        #expect(records(try spool.pending(after: 0, limit: 10)).map(\.value) == ["5", "1"])
        #expect(try spool.rejected().map(\.id) == [6])
        #expect(spool.counts() == [.pending: 2, .resolved: 1, .dlq: 1, .dlqFailed: 0])
        #expect(try spool.list(status: .dlq).map(\.id) == [9])
    }

    @Test(arguments: [true, false]) func groupCommitFromManyThreads(exclusive: Bool) async throws {
        let spool = try Spool(path: directory + "/g.db", exclusive: exclusive)
        let committed = await withTaskGroup(of: Int.self) { group in
            for thread in 0..<8 {
                group.addTask {
                    var count = 0
                    for i in 0..<50 {
                        let ids = try? spool.enqueueAndWait([spoolRecord(key: "k\(thread)", "\(i)")])
                        if ids?.count == 1 { count += 1 }
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(committed == 400)
        #expect(spool.counts()[.pending] == 400)
        for thread in 0..<8 {
            let values = try spool.list(status: .pending, key: Array("k\(thread)".utf8), limit: 100)
                .map { Int(String(decoding: $0.record.value, as: UTF8.self))! }
            #expect(values == Array(0..<50), "one writer's records keep their order")
        }
    }

    @Test(arguments: [true, false]) func sizeCapRefusesInsteadOfDropping(exclusive: Bool) throws {
        let spool = try Spool(path: directory + "/cap.db", maxBytes: 200, exclusive: exclusive)
        try spool.enqueueAndWait([spoolRecord(key: "a", String(repeating: "x", count: 100))])
        #expect {
            try spool.enqueueAndWait([spoolRecord(key: "a", String(repeating: "y", count: 100))])
        } throws: { ($0 as? SpoolError)?.isFull == true }
        #expect(spool.counts()[.pending] == 1)
    }

    @Test(arguments: [true, false]) func operatorCommands(exclusive: Bool) throws {
        let spool = try Spool(path: directory + "/ops.db", exclusive: exclusive)
        let ids = try spool.enqueueAndWait([spoolRecord(key: "a", "1"), spoolRecord("other", key: "b", "1")])
        try spool.markDeadLettered(id: ids[0], status: .dlq, attempts: 3, error: "too big")
        try spool.markDeadLettered(id: ids[1], status: .dlqFailed, attempts: 3, error: "dlq down")
        #expect(try spool.list(status: .dlq).map(\.id) == [ids[0]])
        #expect(try spool.list(topic: "other").map(\.id) == [ids[1]])
        #expect(try spool.record(id: ids[1])?.lastError == "dlq down")
        #expect(try spool.replay(topic: "other") == 1)
        #expect(try spool.record(id: ids[1])?.status == .pending)
        #expect(try spool.record(id: ids[1])?.attempts == 0)
        #expect(try spool.purgeDeadLettered(olderThan: 0) == 0, "nothing dead-lettered before the epoch")
        #expect(try spool.purgeDeadLettered(olderThan: Int64.max) == 1)
        #expect(try spool.record(id: ids[0]) == nil)
        #expect(spool.counts() == [.pending: 1, .resolved: 0, .dlq: 0, .dlqFailed: 0])
    }

    @Test func anUnreadableFileIsRefusedAndKept() throws {
        let path = directory + "/garbage.db"
        let garbage = Data(repeating: 0xAB, count: 8_192)
        #expect(FileManager.default.createFile(atPath: path, contents: garbage))
        #expect(throws: SpoolError.self) { _ = try Spool(path: path) }
        #expect(FileManager.default.contents(atPath: path) == garbage, "the file must be left as it was")
    }

    // MARK: the log

    @Test func aTornTailIsCutOffAndAppendsGoOn() throws {
        let path = directory + "/torn.db"
        do {
            let spool = try Spool(path: path, exclusive: true)
            try spool.enqueueAndWait((0..<3).map { spoolRecord(key: "k", "\($0)") })
            spool.releaseLock()
        }
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: path + "-log").first)
        let file = try #require(FileHandle(forWritingAtPath: path + "-log/" + segment))
        try file.seekToEnd()
        // A crash in the middle of a write: a length and part of a record, never acknowledged.
        try file.write(contentsOf: [0x40, 0, 0, 0, 0x12, 0x34] + [UInt8](repeating: 7, count: 30))
        try file.close()
        do {
            let spool = try Spool(path: path, exclusive: true)
            #expect(spool.repairs.count == 1, "\(spool.repairs)")
            #expect(records(try spool.pending(after: 0, limit: 10)).map(\.value) == ["0", "1", "2"])
            try spool.enqueueAndWait([spoolRecord(key: "k", "3")])
            spool.releaseLock()
        }
        let reopened = try Spool(path: path, exclusive: true)
        #expect(reopened.repairs.isEmpty, "the cut tail stays cut: \(reopened.repairs)")
        #expect(records(try reopened.pending(after: 0, limit: 10)).map(\.value) == ["0", "1", "2", "3"])
    }

    @Test func drainedSegmentsAreDeletedAndWhatLeftStaysGone() throws {
        let path = directory + "/segments.db"
        let ids: [Int64]
        do {
            let spool = try Spool(path: path, exclusive: true, segmentBytes: 500)
            var all: [Int64] = []
            for batch in 0..<10 {
                all += try spool.enqueueAndWait((0..<5).map { spoolRecord(key: "k\($0)", "\(batch)-\($0)") })
            }
            ids = all
            #expect(try FileManager.default.contentsOfDirectory(atPath: path + "-log").count == 10)
            var delivered = SpoolRemoval()
            for id in ids[..<32] { delivered.add(id: id, topic: "events", size: 0) }
            try spool.remove(delivered)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: path + "-log").count == 4,
                "six segments have no live record left")
            #expect(spool.counts()[.pending] == 18)
            spool.releaseLock()
        }
        let reopened = try Spool(path: path, exclusive: true, segmentBytes: 500)
        #expect(try reopened.pending(after: 0, limit: 100).entries.map(\.id) == Array(ids[32...]))
        #expect(reopened.counts() == [.pending: 18, .resolved: 32, .dlq: 0, .dlqFailed: 0])
    }

    @Test func recordsPassedByMoveToTheTableAndKeepTheirPlace() throws {
        let path = directory + "/parked.db"
        let ids: [Int64]
        do {
            let spool = try Spool(path: path, exclusive: true)
            ids = try spool.enqueueAndWait((0..<4).map { spoolRecord(key: "k\($0 % 2)", "\($0)") })
            try spool.park([ids[1], ids[3]])
            let later = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
            try spool.recordFailure(id: ids[2], attempts: 1, nextRetryAt: later, error: "rejected")
            let page = try spool.pending(after: 0, limit: 10)
            #expect(page.entries.map(\.id) == ids)
            #expect(page.entries.map(\.inLog) == [true, false, false, false])
            #expect(spool.counts()[.pending] == 4)
            var delivered = SpoolRemoval()
            delivered.add(id: ids[0], topic: "events", size: 0)
            delivered.add(id: ids[1], topic: "events", size: 0)
            try spool.remove(delivered)
            spool.releaseLock()
        }
        let inTable = try run("/usr/bin/sqlite3", [path, "SELECT id, attempts FROM failed_kafka_events ORDER BY id"])
        #expect(inTable.output.split(separator: "\n") == ["\(ids[2])|1", "\(ids[3])|0"])
        let reopened = try Spool(path: path, exclusive: true)
        #expect(try reopened.pending(after: 0, limit: 10).entries.map(\.id) == [ids[2], ids[3]])
        #expect(reopened.counts()[.pending] == 2)
        #expect(try reopened.rejected().map(\.id) == [ids[2]])
    }

    @Test(arguments: [true, false]) func aBatchEncodedByTheCallerReadsBackAsTheRecordWould(exclusive: Bool) throws {
        let spool = try Spool(path: directory + "/encoded.db", exclusive: exclusive)
        let record = spoolRecord(key: "player-7", "payload", sequence: 70)
        var batch = SpoolBatch()
        Array(record.eventID.utf8).withUnsafeBytes { eventID in
            record.key.withUnsafeBytes { key in
                record.value.withUnsafeBytes { value in
                    batch.append(
                        sequence: 70, eventID: eventID, topic: record.topic, key: key, value: value,
                        timestamp: record.timestamp, client: record.client, reason: "circuit open", createdAt: 5
                    ) { headers in
                        for header in record.headers { headers.add(name: header.name, value: header.value) }
                    }
                }
            }
        }
        let done = Mutex<Result<[Int64], SpoolError>?>(nil)
        let committed = DispatchSemaphore(value: 0)
        spool.enqueue(batch) { result in
            done.withLock { $0 = result }
            committed.signal()
        }
        committed.wait()
        #expect(try done.withLock { $0 }?.get() == [70])
        let stored = try #require(try spool.record(id: 70))
        #expect(stored.record.eventID == record.eventID && stored.record.headers == record.headers)
        #expect(stored.record.key == record.key && stored.record.value == record.value)
        #expect(stored.createdAt == 5)
        let page = try spool.pending(after: 0, limit: 10)
        #expect(page.entries.map(\.size) == [record.byteCount], "the cap counts it as it counts the record")
    }
}
