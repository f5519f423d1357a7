import Foundation
import SluiceSpool
import SluiceTestSupport
import Synchronization
import Testing

/// The bytes on disk are those docs/spool.md describes.
@Suite("Spool codec")
struct SpoolCodecTests {
    let directory: String
    init() throws { directory = try temporaryDirectory() }

    private static let segmentHeader: [UInt8] = [0, 0, 0, 0, 0x53, 0x4C, 0x47, 2]

    private func spoolOne(at path: String) throws -> Spool {
        let spool = try Spool(path: path, exclusive: true)
        var batch = SpoolBatch()
        let (eventID, key, value) = (Array("e".utf8), Array("k".utf8), Array("v".utf8))
        eventID.withUnsafeBytes { eventID in
            key.withUnsafeBytes { key in
                value.withUnsafeBytes { value in
                    batch.append(
                        sequence: 5, eventID: eventID, topic: "t", key: key, value: value, timestamp: 7, client: "c",
                        reason: "circuit open", createdAt: 9
                    ) { headers in headers.add(name: "ab", value: [1, 2, 3]) }
                }
            }
        }
        let committed = DispatchSemaphore(value: 0)
        let result = Mutex<Result<[Int64], SpoolError>?>(nil)
        spool.enqueue(batch) { outcome in
            result.withLock { $0 = outcome }
            committed.signal()
        }
        committed.wait()
        #expect(try result.withLock { $0 }?.get() == [5])
        return spool
    }

    @Test func aSegmentHoldsItsHeaderThenLittleEndianRecordsWithAVersionByte() throws {
        let path = directory + "/layout.db"
        let spool = try spoolOne(at: path)
        let file = try #require(FileManager.default.contents(atPath: path + "-log/00000000000000000005.seg"))
        func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        let headers: [UInt8] = le(UInt16(1)) + le(UInt16(2)) + Array("ab".utf8) + le(UInt32(3)) + [1, 2, 3]
        let fields: [UInt8] = Array(("t" + "e" + "c" + "circuit open" + "k").utf8) + headers + Array("v".utf8)
        let body: [UInt8] =
            [2] + le(Int64(5)) + le(Int64(9)) + le(Int64(7)) + le(UInt32(9))
            + le(UInt16(1)) + le(UInt16(1)) + le(UInt16(1)) + le(UInt16(12))
            + le(UInt32(1)) + le(UInt32(UInt32(headers.count))) + le(UInt32(1)) + fields
        #expect(file.count == 8 + 8 + body.count)
        #expect(Array(file.prefix(8)) == Self.segmentHeader)
        #expect(Array(file[8..<12]) == le(UInt32(body.count)))
        #expect(Array(file.suffix(from: 16)) == body)
        // The same header blob in the table, marked with its codec version.
        try spool.park([5])
        let row = try run("/usr/bin/sqlite3", [path, "SELECT hex(headers), codec FROM failed_kafka_events"])
        #expect(row.output == "01000200616203000000010203|2\n")
        #expect(try spool.record(id: 5)?.record.headers == [SpoolHeader(name: "ab", value: [1, 2, 3])])
    }

    @Test func aSegmentOfAnUnknownVersionIsRefusedAndKept() throws {
        let path = directory + "/newer.db"
        try spoolOne(at: path).releaseLock()
        let segment = path + "-log/00000000000000000005.seg"
        var bytes = try #require(FileManager.default.contents(atPath: segment))
        bytes[7] = 3
        try bytes.write(to: URL(fileURLWithPath: segment))
        #expect(throws: SpoolError.self) { _ = try Spool(path: path, exclusive: true) }
        #expect(FileManager.default.contents(atPath: segment) == bytes, "the file must be left as it was")
    }

    /// Cut short by a crash: a header, or a version-1 record (never acknowledged, so the next
    /// record may have its id, which names the file).
    @Test(arguments: [[0, 0, 0, 0, 0x53], [0x40, 0, 0, 0, 0x12, 0x34] + [UInt8](repeating: 7, count: 30)])
    func aSegmentWhoseFirstWriteWasCutShortIsEmptiedAndWrittenAgain(torn: [UInt8]) throws {
        let path = directory + "/short.db"
        try FileManager.default.createDirectory(atPath: path + "-log", withIntermediateDirectories: true)
        let segment = path + "-log/00000000000000000001.seg"
        try Data(torn).write(to: URL(fileURLWithPath: segment))
        let spool = try Spool(path: path, exclusive: true)
        #expect(spool.repairs.count == 1, "\(spool.repairs)")
        try spool.enqueueAndWait([spoolRecord(key: "a", "1", sequence: 1)])
        let bytes = try #require(FileManager.default.contents(atPath: segment))
        #expect(Array(bytes.prefix(8)) == Self.segmentHeader)
        spool.releaseLock()
        let reopened = try Spool(path: path, exclusive: true)
        #expect(reopened.repairs.isEmpty)
        #expect(records(try reopened.pending(after: 0, limit: 10)).map(\.value) == ["1"])
    }
}
