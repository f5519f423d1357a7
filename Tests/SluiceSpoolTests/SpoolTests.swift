import Foundation
import SluiceSpool
import SluiceTestSupport
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

@Suite("SQLite spool")
struct SpoolTests {
    let directory: String
    init() throws { directory = try temporaryDirectory() }

    @Test func recordsSurviveReopeningInOrder() throws {
        let path = directory + "/spool.db"
        do {
            let spool = try Spool(path: path)
            let ids = try spool.enqueueAndWait([spoolRecord(key: "a", "1"), spoolRecord(key: "b", "1")])
            #expect(ids.count == 2 && ids[0] < ids[1])
            try spool.enqueueAndWait([spoolRecord(key: "a", "2")])
        }
        let reopened = try Spool(path: path)
        let due = try reopened.due(now: Int64.max, limit: 10)
        #expect(due.map { String(decoding: $0.record.value, as: UTF8.self) } == ["1", "1", "2"])
        #expect(due.map { String(decoding: $0.record.key, as: UTF8.self) } == ["a", "b", "a"])
        #expect(due[0].record.headers == [SpoolHeader(name: "event-type", value: Array("t".utf8))])
        #expect(
            try reopened.pendingKeys() == [
                SpoolKey(topic: "events", key: Array("a".utf8)): 2, SpoolKey(topic: "events", key: Array("b".utf8)): 1,
            ])
        #expect(try reopened.maxSequence() == due.map(\.record.sequence).max())
    }

    @Test func aKeyWaitsBehindItsHeadsBackoff() throws {
        let spool = try Spool(path: directory + "/s.db")
        let ids = try spool.enqueueAndWait([
            spoolRecord(key: "a", "1"), spoolRecord(key: "a", "2"), spoolRecord(key: "b", "1"),
        ])
        let now = Int64(Date().timeIntervalSince1970 * 1000) + 1_000
        let later = now + 60_000
        try spool.recordFailure(id: ids[0], attempts: 1, nextRetryAt: later, error: "broker said no")
        #expect(
            try spool.due(now: now, limit: 10).map(\.id) == [ids[2]], "a's second record must not overtake its head")
        #expect(try spool.due(now: later, limit: 10).map(\.id) == ids)
        #expect(try spool.due(now: later, limit: 2).map(\.id) == [ids[0], ids[1]])
        try spool.markResolved([ids[0]])
        #expect(try spool.due(now: now, limit: 10).map(\.id) == [ids[1], ids[2]])
    }

    @Test func lateArrivalsSortBySequenceNotArrival() throws {
        let spool = try Spool(path: directory + "/late.db")
        try spool.enqueueAndWait([
            spoolRecord(key: "a", "third", sequence: 30), spoolRecord(key: "a", "first", sequence: 10),
        ])
        try spool.enqueueAndWait([spoolRecord(key: "a", "second", sequence: 20)])
        let values = try spool.due(now: Int64.max, limit: 10).map { String(decoding: $0.record.value, as: UTF8.self) }
        #expect(values == ["first", "second", "third"])
    }

    @Test func groupCommitFromManyThreads() async throws {
        let spool = try Spool(path: directory + "/g.db")
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
        #expect(try spool.counts()[.pending] == 400)
        for thread in 0..<8 {
            let values = try spool.list(status: .pending, key: Array("k\(thread)".utf8), limit: 100)
                .map { Int(String(decoding: $0.record.value, as: UTF8.self))! }
            #expect(values == Array(0..<50), "one writer's records keep their order")
        }
    }

    @Test func sizeCapRefusesInsteadOfDropping() throws {
        let spool = try Spool(path: directory + "/cap.db", maxBytes: 200)
        try spool.enqueueAndWait([spoolRecord(key: "a", String(repeating: "x", count: 100))])
        #expect {
            try spool.enqueueAndWait([spoolRecord(key: "a", String(repeating: "y", count: 100))])
        } throws: { ($0 as? SpoolError)?.isFull == true }
        #expect(try spool.counts()[.pending] == 1)
    }

    @Test func operatorCommands() throws {
        let spool = try Spool(path: directory + "/ops.db")
        let ids = try spool.enqueueAndWait([spoolRecord(key: "a", "1"), spoolRecord("other", key: "b", "1")])
        try spool.markDeadLettered(id: ids[0], status: .dlq, attempts: 3, error: "too big")
        try spool.markDeadLettered(id: ids[1], status: .dlqFailed, attempts: 3, error: "dlq down")
        #expect(try spool.list(status: .dlq).map(\.id) == [ids[0]])
        #expect(try spool.list(topic: "other").map(\.id) == [ids[1]])
        #expect(try spool.record(id: ids[1])?.lastError == "dlq down")
        #expect(try spool.replay(topic: "other") == 1)
        #expect(try spool.record(id: ids[1])?.status == .pending)
        #expect(try spool.record(id: ids[1])?.attempts == 0)
        try spool.markResolved([ids[1]])
        #expect(try spool.purgeResolved(olderThan: 0) == 0, "nothing resolved before the epoch")
        #expect(try spool.purgeResolved(olderThan: Int64.max) == 1)
        #expect(try spool.counts() == [.pending: 0, .resolved: 0, .dlq: 1, .dlqFailed: 0])
    }

    @Test func anUnreadableFileIsRefusedAndKept() throws {
        let path = directory + "/garbage.db"
        let garbage = Data(repeating: 0xAB, count: 8_192)
        #expect(FileManager.default.createFile(atPath: path, contents: garbage))
        #expect(throws: SpoolError.self) { _ = try Spool(path: path) }
        #expect(FileManager.default.contents(atPath: path) == garbage, "the file must be left as it was")
    }
}
