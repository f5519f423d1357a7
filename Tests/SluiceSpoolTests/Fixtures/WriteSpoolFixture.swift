import Foundation
import SluiceSpool
import Testing

/// Writes spool-v1 with the spool code of the day (see README.md; SLUICE_WRITE_SPOOL_FIXTURE=1).
@Test(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_WRITE_SPOOL_FIXTURE"] != nil))
func writeSpoolFixture() throws {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/spool-v1"
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/spool.db"
    let long = (0..<300).map { UInt8($0 % 251) }
    func record(
        _ sequence: Int64, topic: String = "events", key: String, value: [UInt8], headers: [(String, [UInt8])],
        attempts: Int = 0, nextRetryAt: Int64 = 0
    ) -> SpoolRecord {
        var record = SpoolRecord(
            sequence: sequence, eventID: String(format: "00000000-0000-4000-8000-%012d", sequence), topic: topic,
            key: Array(key.utf8), headers: headers.map { SpoolHeader(name: $0.0, value: $0.1) }, value: value,
            timestamp: 1_700_000_000_000 + sequence, client: "uid=1000 pid=42 fixture/1", reason: "circuit open",
            attempts: attempts, nextRetryAt: nextRetryAt)
        record.createdAt = 1_700_000_100_000 + sequence
        return record
    }
    do {
        let spool = try Spool(path: path, exclusive: true, segmentBytes: 1024)
        try spool.enqueueAndWait([
            record(11, key: "p1", value: Array("one".utf8), headers: [("event-type", Array("login".utf8))]),
            record(
                12, key: "p2", value: Array("two".utf8),
                headers: [("event-type", Array("buy".utf8)), ("trace", [0x00, 0xFF, 0x80, 0x7F]), ("empty", [])]),
            record(13, key: "p1", value: [], headers: []),
            record(14, topic: "audit", key: "p3", value: long, headers: [("blob", long), ("n", Array("4".utf8))]),
            record(15, key: "p4", value: Array("five".utf8), headers: [("event-type", Array("sell".utf8))]),
            record(16, key: "p5", value: Array("six".utf8), headers: [("event-type", Array("quit".utf8))]),
        ])
        try spool.enqueueAndWait([
            record(17, topic: "audit", key: "p3", value: Array("seven".utf8), headers: [("h", Array("7".utf8))]),
            record(18, key: "p1", value: Array("eight".utf8), headers: [("event-type", Array("logout".utf8))]),
        ])
        // A record routed before those in the log: it goes to the table.
        try spool.enqueueAndWait([
            record(
                10, key: "p6", value: Array("late".utf8), headers: [("event-type", Array("late".utf8)), ("x", long)])
        ])
        var delivered = SpoolRemoval()
        delivered.add(id: 11, topic: "events", size: 0)
        try spool.remove(delivered)
        try spool.recordFailure(id: 12, attempts: 1, nextRetryAt: 1_700_000_200_000, error: "Broker: Message too large")
        try spool.park([14])
        try spool.markDeadLettered(id: 15, status: .dlq, attempts: 3, error: "Broker: Invalid message")
        try spool.markDeadLettered(id: 16, status: .dlqFailed, attempts: 3, error: "Local: Unknown topic")
        spool.releaseLock()
    }
    try? FileManager.default.removeItem(atPath: path + ".lock")
}
