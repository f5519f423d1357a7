import Foundation
import SluiceSpool
import SluiceTestSupport
import Testing

/// What `Fixtures/spool-v1` holds (its README has the table), as `WriteSpoolFixture.swift` wrote it.
private enum V1 {
    static let long = (0..<300).map { UInt8($0 % 251) }

    static func record(_ id: Int64) -> SpoolRecord {
        let (topic, key, value, headers): (String, String, [UInt8], [(String, [UInt8])]) =
            switch id {
            case 10: ("events", "p6", Array("late".utf8), [("event-type", Array("late".utf8)), ("x", long)])
            case 11: ("events", "p1", Array("one".utf8), [("event-type", Array("login".utf8))])
            case 12:
                (
                    "events", "p2", Array("two".utf8),
                    [("event-type", Array("buy".utf8)), ("trace", [0x00, 0xFF, 0x80, 0x7F]), ("empty", [])]
                )
            case 13: ("events", "p1", [], [])
            case 14: ("audit", "p3", long, [("blob", long), ("n", Array("4".utf8))])
            case 15: ("events", "p4", Array("five".utf8), [("event-type", Array("sell".utf8))])
            case 16: ("events", "p5", Array("six".utf8), [("event-type", Array("quit".utf8))])
            case 17: ("audit", "p3", Array("seven".utf8), [("h", Array("7".utf8))])
            default: ("events", "p1", Array("eight".utf8), [("event-type", Array("logout".utf8))])
            }
        return SpoolRecord(
            sequence: id, eventID: String(format: "00000000-0000-4000-8000-%012d", id), topic: topic,
            key: Array(key.utf8), headers: headers.map { SpoolHeader(name: $0.0, value: $0.1) }, value: value,
            timestamp: 1_700_000_000_000 + id, client: "uid=1000 pid=42 fixture/1", reason: "circuit open")
    }

    /// The table's rows: status, attempts, next retry, last error and when last updated.
    static let table: [Int64: (SpoolStatus, Int, Int64, String, Int64)] = [
        10: (.pending, 0, 0, "circuit open", 1_796_517_672_047),
        12: (.pending, 1, 1_700_000_200_000, "Broker: Message too large", 1_796_517_672_047),
        14: (.pending, 0, 0, "circuit open", 1_796_517_672_048),
        15: (.dlq, 3, 0, "Broker: Invalid message", 1_796_517_672_048),
        16: (.dlqFailed, 3, 0, "Local: Unknown topic", 1_796_517_672_048),
    ]
    static let all: [Int64] = [10, 12, 13, 14, 15, 16, 17, 18]
    static let drainOrder: [Int64] = [10, 12, 13, 14, 17, 18]
    static let inLog: Set<Int64> = [13, 17, 18]
}

/// The spool reads what the spool of commit 0354374 wrote, before it had one codec.
@Suite("Spool written by version 1")
struct SpoolFixtureTests {
    let path: String

    /// A copy of the fixture: opening it migrates and repairs in place.
    init() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures/spool-v1"
        let directory = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: fixture + "/spool.db", toPath: directory + "/spool.db")
        try FileManager.default.copyItem(atPath: fixture + "/spool.db-log", toPath: directory + "/spool.db-log")
        path = directory + "/spool.db"
    }

    @Test(arguments: [true, false]) func everyRecordReadsBackIntact(exclusive: Bool) throws {
        let spool = try Spool(path: path, exclusive: exclusive)
        #expect(spool.repairs.isEmpty)
        let listed = try spool.list(limit: 100)
        #expect(listed.map(\.id) == V1.all)
        for stored in listed {
            let expected = V1.record(stored.id)
            let fromID = try #require(try spool.record(id: stored.id))
            for found in [stored, fromID] {
                #expect(found.record.sequence == stored.id)
                #expect(found.record.eventID == expected.eventID)
                #expect(found.record.topic == expected.topic)
                #expect(found.record.key == expected.key)
                #expect(found.record.value == expected.value)
                #expect(found.record.headers == expected.headers, "record \(stored.id)")
                #expect(found.record.timestamp == expected.timestamp)
                #expect(found.createdAt == 1_700_000_100_000 + stored.id)
                if let (status, attempts, nextRetryAt, lastError, updatedAt) = V1.table[stored.id] {
                    #expect(found.record.client == expected.client)
                    #expect(found.status == status && found.attempts == attempts && found.nextRetryAt == nextRetryAt)
                    #expect(found.lastError == lastError && found.updatedAt == updatedAt)
                } else {
                    #expect(found.record.client == expected.client && found.record.reason == expected.reason)
                    #expect(found.status == .pending && found.attempts == 0 && found.nextRetryAt == 0)
                    #expect(found.lastError == "circuit open" && found.updatedAt == found.createdAt)
                }
            }
        }
        #expect(try spool.record(id: 11) == nil, "delivered before the upgrade: it stays gone")
        #expect(spool.counts() == [.pending: 6, .resolved: 1, .dlq: 1, .dlqFailed: 1])
        #expect(spool.countsByTopic()["audit"]?[.pending] == 2)
        #expect(try spool.maxSequence() == 18)
        #expect(try spool.oldestPendingCreatedAt() == 1_700_000_100_010)
        #expect(try spool.rejected().map(\.id) == [12])
        let keys = try spool.pendingKeys()
        #expect(keys[SpoolKey(topic: "events", key: Array("p1".utf8))] == 2)
        #expect(keys[SpoolKey(topic: "audit", key: Array("p3".utf8))] == 2)
    }

    @Test func theDrainReadsThemInTheirOrder() throws {
        let spool = try Spool(path: path, exclusive: true)
        let page = try spool.pending(after: 0, limit: 100)
        #expect(page.entries.map(\.id) == V1.drainOrder)
        for entry in page.entries {
            let expected = V1.record(entry.id)
            #expect(page.topics[entry.topic] == expected.topic)
            #expect(Array(page.bytes[entry.key]) == expected.key)
            #expect(Array(page.bytes[entry.value]) == expected.value)
            var headers: [SpoolHeader] = []
            page.forEachHeader(of: entry) {
                headers.append(SpoolHeader(name: String(decoding: $0, as: UTF8.self), value: Array($1)))
            }
            #expect(headers == expected.headers, "record \(entry.id)")
            #expect(entry.timestamp == expected.timestamp && entry.size == expected.byteCount)
            #expect(entry.inLog == V1.inLog.contains(entry.id) && entry.attempts == (entry.id == 12 ? 1 : 0))
        }
        #expect(try spool.pending(after: 13, limit: 2).entries.map(\.id) == [14, 17])
    }

    /// New records go after the old ones; once everything is delivered the old segments go.
    @Test func appendsGoOnAfterTheOldRecordsAndTheOldSegmentsDrainAway() throws {
        do {
            let spool = try Spool(path: path, exclusive: true)
            var record = V1.record(19)
            record.sequence = 19
            try spool.enqueueAndWait([record])
            spool.releaseLock()
        }
        let newSegment = try #require(FileManager.default.contents(atPath: path + "-log/00000000000000000019.seg"))
        #expect(Array(newSegment.prefix(8)) == [0, 0, 0, 0, 0x53, 0x4C, 0x47, 2], "an old segment is not appended to")
        let spool = try Spool(path: path, exclusive: true)
        let page = try spool.pending(after: 0, limit: 100)
        #expect(page.entries.map(\.id) == V1.drainOrder + [19])
        #expect(try spool.record(id: 19)?.record.headers == V1.record(18).headers)
        var delivered = SpoolRemoval()
        for entry in page.entries { delivered.add(id: entry.id, topic: page.topics[entry.topic], size: entry.size) }
        try spool.remove(delivered)
        #expect(try spool.pending(after: 0, limit: 100).entries.isEmpty)
        #expect(spool.counts() == [.pending: 0, .resolved: 8, .dlq: 1, .dlqFailed: 1])
        let segments = try FileManager.default.contentsOfDirectory(atPath: path + "-log")
        #expect(segments.count == 1 && !segments.contains("00000000000000000011.seg"), "\(segments)")
    }
}
