import Foundation

/// How one record is laid out in a log segment.
///
/// Little-endian: `u32` body length, `u32` checksum of the body, then the body: `i64` id,
/// `i64` created-at, `i64` timestamp, `u32` size (what the record counts against the cap),
/// `u16` lengths of topic, event id, client and reason, `u32` lengths of key, headers
/// (`HeaderCoding`) and value, then those seven fields' bytes in that order.
///
/// The checksum finds a torn tail after a crash: records past the last `fdatasync` were
/// never acknowledged, and a reader stops at the first record that does not check out.
enum LogRecordFormat {
    static let prefixSize = 8
    static let fixedBodySize = 48
    /// Where `created_at` lies from the start of the record (prefix included).
    static let createdAtOffset = prefixSize + 8

    /// Appends `record` to `out`, stamped with `createdAt`.
    static func append(_ record: SpoolRecord, size: Int, createdAt: Int64, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: prefixSize + fixedBodySize))
        out.append(contentsOf: record.topic.utf8)
        out.append(contentsOf: record.eventID.utf8)
        out.append(contentsOf: record.client.utf8)
        out.append(contentsOf: record.reason.utf8)
        out.append(contentsOf: record.key)
        let headersStart = out.count
        HeaderCoding.append(record.headers, to: &out)
        let headersLength = out.count - headersStart
        out.append(contentsOf: record.value)
        let bodyLength = out.count - start - prefixSize
        out.withUnsafeMutableBytes { all in
            let body = UnsafeMutableRawBufferPointer(rebasing: all[(start + prefixSize)...])
            var offset = 0
            func put<T: FixedWidthInteger>(_ value: T) {
                body.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
                offset += MemoryLayout<T>.size
            }
            put(record.sequence)
            put(createdAt)
            put(record.timestamp)
            put(UInt32(truncatingIfNeeded: size))
            put(UInt16(truncatingIfNeeded: record.topic.utf8.count))
            put(UInt16(truncatingIfNeeded: record.eventID.utf8.count))
            put(UInt16(truncatingIfNeeded: record.client.utf8.count))
            put(UInt16(truncatingIfNeeded: record.reason.utf8.count))
            put(UInt32(truncatingIfNeeded: record.key.count))
            put(UInt32(truncatingIfNeeded: headersLength))
            put(UInt32(truncatingIfNeeded: record.value.count))
            let sum = checksum(UnsafeRawBufferPointer(rebasing: body[..<bodyLength]))
            all.storeBytes(
                of: UInt32(truncatingIfNeeded: bodyLength).littleEndian, toByteOffset: start, as: UInt32.self)
            all.storeBytes(of: sum.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    /// The length of the whole record at the start of `bytes` (prefix included), or nil when
    /// `bytes` does not hold a complete record whose checksum matches.
    static func validLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= prefixSize + fixedBodySize else { return nil }
        let bodyLength = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard bodyLength >= fixedBodySize, bodyLength <= bytes.count - prefixSize else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: bytes[prefixSize..<(prefixSize + bodyLength)])
        guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == checksum(body) else {
            return nil
        }
        // The seven lengths (four u16, three u32 after 28 bytes of numbers) must fill the body.
        var fieldBytes = fixedBodySize
        for index in 0..<4 {
            fieldBytes += Int(UInt16(littleEndian: body.loadUnaligned(fromByteOffset: 28 + 2 * index, as: UInt16.self)))
        }
        for index in 0..<3 {
            fieldBytes += Int(UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 36 + 4 * index, as: UInt32.self)))
        }
        return fieldBytes == bodyLength ? prefixSize + bodyLength : nil
    }

    /// A record's fields as they lie in a buffer that holds the whole record.
    struct Fields {
        var id: Int64
        var createdAt: Int64
        var timestamp: Int64
        var size: Int
        var topic: Range<Int>
        var eventID: Range<Int>
        var client: Range<Int>
        var reason: Range<Int>
        var key: Range<Int>
        var headers: Range<Int>
        var value: Range<Int>
    }

    /// The fields of the record that starts at `start` in `bytes` (already validated).
    static func fields(in bytes: UnsafeRawBufferPointer, at start: Int) -> Fields {
        var offset = start + prefixSize
        func take<T: FixedWidthInteger>(_: T.Type) -> T {
            defer { offset += MemoryLayout<T>.size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        let id = take(Int64.self)
        let createdAt = take(Int64.self)
        let timestamp = take(Int64.self)
        let size = Int(take(UInt32.self))
        let topicLength = Int(take(UInt16.self))
        let eventIDLength = Int(take(UInt16.self))
        let clientLength = Int(take(UInt16.self))
        let reasonLength = Int(take(UInt16.self))
        let keyLength = Int(take(UInt32.self))
        let headersLength = Int(take(UInt32.self))
        let valueLength = Int(take(UInt32.self))
        func next(_ length: Int) -> Range<Int> {
            defer { offset += length }
            return offset..<(offset + length)
        }
        return Fields(
            id: id, createdAt: createdAt, timestamp: timestamp, size: size, topic: next(topicLength),
            eventID: next(eventIDLength), client: next(clientLength), reason: next(reasonLength), key: next(keyLength),
            headers: next(headersLength), value: next(valueLength))
    }

    /// The record that starts at `start` in `bytes`, as the operator view shows it.
    static func storedRecord(in bytes: UnsafeRawBufferPointer, at start: Int) -> StoredRecord {
        let fields = fields(in: bytes, at: start)
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        let record = SpoolRecord(
            sequence: fields.id, eventID: text(fields.eventID), topic: text(fields.topic),
            key: Array(bytes[fields.key]),
            headers: HeaderCoding.decode(UnsafeRawBufferPointer(rebasing: bytes[fields.headers])),
            value: Array(bytes[fields.value]), timestamp: fields.timestamp, client: text(fields.client),
            reason: text(fields.reason))
        return StoredRecord(
            id: fields.id, record: record, status: .pending, attempts: 0, nextRetryAt: 0, createdAt: fields.createdAt,
            lastError: fields.reason.isEmpty ? nil : text(fields.reason), updatedAt: fields.createdAt)
    }

    /// A 32-bit checksum over 8-byte words (multiply and xor-shift): cheap, and enough to
    /// tell a torn or stale tail from a record that was written whole.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var offset = 0
        while offset + 8 <= bytes.count {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            hash ^= hash >> 29
            offset += 8
        }
        var tail: UInt64 = 0
        while offset < bytes.count {
            tail = tail << 8 | UInt64(bytes[offset])
            offset += 1
        }
        hash = (hash ^ tail) &* 0x0000_0100_0000_01B3
        hash ^= hash >> 32
        return UInt32(truncatingIfNeeded: hash)
    }
}

/// Records encoded for the log, with what its index needs to know of each.
struct LogBatch: Sendable {
    var bytes: [UInt8] = []
    /// Ascending.
    var ids: [Int64] = []
    /// Where each record starts in `bytes`.
    var offsets: [Int] = []
    var sizes: [Int] = []
    var topics: [String] = []
    /// What the records count against the spool's cap.
    var size: Int64 = 0

    /// Encodes `records`, or nil when the log cannot take them as they are: some carry
    /// delivery state (attempts, a retry time), or their ids do not ascend.
    init?(_ records: [SpoolRecord], createdAt: Int64) {
        var previous = Int64.min
        for record in records {
            guard record.attempts == 0, record.nextRetryAt == 0, record.sequence > previous else { return nil }
            previous = record.sequence
        }
        ids.reserveCapacity(records.count)
        offsets.reserveCapacity(records.count)
        sizes.reserveCapacity(records.count)
        topics.reserveCapacity(records.count)
        bytes.reserveCapacity(records.count * 512)
        for record in records {
            let size = record.byteCount
            ids.append(record.sequence)
            offsets.append(bytes.count)
            sizes.append(size)
            self.size += Int64(size)
            topics.append(record.topic)
            LogRecordFormat.append(record, size: size, createdAt: createdAt, to: &bytes)
        }
    }
}
