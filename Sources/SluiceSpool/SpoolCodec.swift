import Foundation

/// The spool's one encoding of a record: the log's segments and records, and the header blob
/// that the log and the table's `headers` column share.
///
/// Little-endian throughout. A record is `u32` body length, `u32` checksum of the body, then
/// the body: `u8` version, `i64` id, `i64` created-at, `i64` timestamp, `u32` size (what the
/// record counts against the cap), `u16` lengths of topic, event id, client and reason, `u32`
/// lengths of key, headers and value, then those seven fields' bytes in that order. A header
/// blob is `u16` count, then per header `u16` name length, name, `u32` value length, value.
///
/// Version 1 (before this codec) had no version byte and big-endian header blobs; it is read,
/// never written. docs/spool.md has the layout and how each store tells the versions apart.
///
/// The checksum finds a torn tail after a crash: records past the last `fdatasync` were
/// never acknowledged, and a reader stops at the first record that does not check out.
enum SpoolCodec {
    /// The version this code writes.
    static let version: UInt8 = 2
    /// What the spool wrote before it had a version byte.
    static let firstVersion: UInt8 = 1
    static let prefixSize = 8

    /// The fixed part of a body: the version byte (from version 2), three `i64`, a `u32`, four `u16`, three `u32`.
    static func fixedBodySize(_ version: UInt8) -> Int { versionBytes(version) + 48 }

    /// Where `created_at` lies from the start of a record (prefix included).
    static func createdAtOffset(_ version: UInt8) -> Int { prefixSize + versionBytes(version) + 8 }

    private static func versionBytes(_ version: UInt8) -> Int { version == firstVersion ? 0 : 1 }

    // MARK: segments

    /// What a segment file starts with: a zero where a version-1 segment has its first record's
    /// body length (never zero), "SLG", and the version of every record in the segment.
    static let segmentHeader: [UInt8] = [0, 0, 0, 0, 0x53, 0x4C, 0x47, version]

    /// The version of the records of the segment file that starts with `bytes`, and where they
    /// start; nil when its header names a version this code does not know.
    ///
    /// A file that starts with neither a header nor a record (a first write cut short) counts
    /// as the current version: its bytes do not check out, so it is empty.
    static func segmentLayout(_ bytes: UnsafeRawBufferPointer) -> (version: UInt8, recordsStart: Int)? {
        guard bytes.count >= segmentHeader.count else { return (version, 0) }
        guard bytes.loadUnaligned(as: UInt32.self) == 0 else { return (firstVersion, 0) }
        guard bytes[4] == segmentHeader[4], bytes[5] == segmentHeader[5], bytes[6] == segmentHeader[6] else {
            return (version, 0)
        }
        return bytes[7] == version ? (version, segmentHeader.count) : nil
    }

    // MARK: records

    /// Appends `record` to `out`, stamped as spooled at `createdAt`.
    static func append(_ record: SpoolRecord, createdAt: Int64, to out: inout [UInt8]) -> Int {
        var size = 0
        var eventID = record.eventID
        var topic = record.topic
        var client = record.client
        var reason = record.reason
        eventID.withUTF8 { eventID in
            topic.withUTF8 { topic in
                client.withUTF8 { client in
                    reason.withUTF8 { reason in
                        record.key.withUnsafeBytes { key in
                            record.value.withUnsafeBytes { value in
                                let fields = RawFields(
                                    id: record.sequence, createdAt: createdAt, timestamp: record.timestamp,
                                    topic: UnsafeRawBufferPointer(topic), eventID: UnsafeRawBufferPointer(eventID),
                                    client: UnsafeRawBufferPointer(client), reason: UnsafeRawBufferPointer(reason),
                                    key: key, value: value)
                                size = append(fields, to: &out) { headers in
                                    for header in record.headers { headers.add(name: header.name, value: header.value) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return size
    }

    /// A record's fields as bytes, for `append`.
    struct RawFields {
        var id: Int64
        var createdAt: Int64
        var timestamp: Int64
        var topic: UnsafeRawBufferPointer
        var eventID: UnsafeRawBufferPointer
        var client: UnsafeRawBufferPointer
        var reason: UnsafeRawBufferPointer
        var key: UnsafeRawBufferPointer
        var value: UnsafeRawBufferPointer
    }

    /// Appends a record to `out`; `headers` adds its headers in order. Returns what the
    /// record counts against the cap (as `SpoolRecord.byteCount`).
    @discardableResult
    static func append(_ fields: RawFields, to out: inout [UInt8], headers: (inout SpoolHeaderWriter) -> Void) -> Int {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: prefixSize + fixedBodySize(version)))
        out.append(contentsOf: fields.topic)
        out.append(contentsOf: fields.eventID)
        out.append(contentsOf: fields.client)
        out.append(contentsOf: fields.reason)
        out.append(contentsOf: fields.key)
        var writer = SpoolHeaderWriter()
        swap(&writer.bytes, &out)
        let headersStart = writer.bytes.count
        writer.bytes.append(contentsOf: [0, 0])
        headers(&writer)
        let headerCount = writer.count
        swap(&writer.bytes, &out)
        out.withUnsafeMutableBytes {
            $0.storeBytes(
                of: UInt16(truncatingIfNeeded: headerCount).littleEndian, toByteOffset: headersStart, as: UInt16.self)
        }
        let headersLength = out.count - headersStart
        let size =
            fields.topic.count + fields.eventID.count + fields.key.count + fields.value.count
            + headersLength - 2 - 6 * headerCount
        out.append(contentsOf: fields.value)
        let bodyLength = out.count - start - prefixSize
        out.withUnsafeMutableBytes { all in
            let body = UnsafeMutableRawBufferPointer(rebasing: all[(start + prefixSize)...])
            var offset = 0
            func put<T: FixedWidthInteger>(_ value: T) {
                body.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
                offset += MemoryLayout<T>.size
            }
            put(version)
            put(fields.id)
            put(fields.createdAt)
            put(fields.timestamp)
            put(UInt32(truncatingIfNeeded: size))
            put(UInt16(truncatingIfNeeded: fields.topic.count))
            put(UInt16(truncatingIfNeeded: fields.eventID.count))
            put(UInt16(truncatingIfNeeded: fields.client.count))
            put(UInt16(truncatingIfNeeded: fields.reason.count))
            put(UInt32(truncatingIfNeeded: fields.key.count))
            put(UInt32(truncatingIfNeeded: headersLength))
            put(UInt32(truncatingIfNeeded: fields.value.count))
            let sum = checksum(UnsafeRawBufferPointer(rebasing: body[..<bodyLength]))
            all.storeBytes(
                of: UInt32(truncatingIfNeeded: bodyLength).littleEndian, toByteOffset: start, as: UInt32.self)
            all.storeBytes(of: sum.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
        return size
    }

    /// The length of the whole record at the start of `bytes` (prefix included), or nil when
    /// `bytes` does not hold a complete record of `version` whose checksum matches.
    static func validLength(_ bytes: UnsafeRawBufferPointer, version: UInt8) -> Int? {
        let fixedBodySize = fixedBodySize(version)
        guard bytes.count >= prefixSize + fixedBodySize else { return nil }
        let bodyLength = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard bodyLength >= fixedBodySize, bodyLength <= bytes.count - prefixSize else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: bytes[prefixSize..<(prefixSize + bodyLength)])
        guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == checksum(body) else {
            return nil
        }
        guard version == firstVersion || body[0] == version else { return nil }
        // The seven lengths (four u16, three u32 after 28 bytes of numbers) must fill the body.
        let lengths = versionBytes(version) + 28
        var fieldBytes = fixedBodySize
        for index in 0..<4 {
            fieldBytes += Int(
                UInt16(littleEndian: body.loadUnaligned(fromByteOffset: lengths + 2 * index, as: UInt16.self)))
        }
        for index in 0..<3 {
            fieldBytes += Int(
                UInt32(littleEndian: body.loadUnaligned(fromByteOffset: lengths + 8 + 4 * index, as: UInt32.self)))
        }
        return fieldBytes == bodyLength ? prefixSize + bodyLength : nil
    }

    /// A record's fields as they lie in a buffer that holds the whole record.
    struct Fields {
        var version: UInt8
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

    /// The fields of the record of `version` that starts at `start` in `bytes` (already validated).
    static func fields(in bytes: UnsafeRawBufferPointer, at start: Int, version: UInt8) -> Fields {
        var offset = start + prefixSize + versionBytes(version)
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
            version: version, id: id, createdAt: createdAt, timestamp: timestamp, size: size, topic: next(topicLength),
            eventID: next(eventIDLength), client: next(clientLength), reason: next(reasonLength), key: next(keyLength),
            headers: next(headersLength), value: next(valueLength))
    }

    /// The record whose `fields` lie in `bytes`, as the operator view shows it.
    static func storedRecord(in bytes: UnsafeRawBufferPointer, _ fields: Fields) -> StoredRecord {
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        var record = SpoolRecord(
            sequence: fields.id, eventID: text(fields.eventID), topic: text(fields.topic),
            key: Array(bytes[fields.key]),
            headers: headers(in: UnsafeRawBufferPointer(rebasing: bytes[fields.headers]), version: fields.version),
            value: Array(bytes[fields.value]), timestamp: fields.timestamp, client: text(fields.client),
            reason: text(fields.reason))
        record.createdAt = fields.createdAt
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

    // MARK: header blobs

    /// Appends one header to a blob (its count is the caller's).
    static func appendHeader(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        append(UInt16(truncatingIfNeeded: name.count), to: &out)
        out.append(contentsOf: name)
        append(UInt32(truncatingIfNeeded: value.count), to: &out)
        out.append(contentsOf: value)
    }

    /// Appends `headers` as a blob.
    static func appendHeaders(_ headers: [SpoolHeader], to out: inout [UInt8]) {
        append(UInt16(truncatingIfNeeded: headers.count), to: &out)
        for header in headers {
            var name = header.name
            name.withUTF8 { name in
                header.value.withUnsafeBytes { appendHeader(name: UnsafeRawBufferPointer(name), value: $0, to: &out) }
            }
        }
    }

    /// Appends a blob of `version` as a blob of the current version.
    static func appendHeaders(_ blob: UnsafeRawBufferPointer, version: UInt8, to out: inout [UInt8]) {
        guard version != Self.version else { return out.append(contentsOf: blob) }
        let start = out.count
        var count: UInt16 = 0
        append(count, to: &out)
        forEachHeader(in: blob, version: version) { name, value in
            appendHeader(name: name, value: value, to: &out)
            count &+= 1
        }
        out.withUnsafeMutableBytes { $0.storeBytes(of: count.littleEndian, toByteOffset: start, as: UInt16.self) }
    }

    /// Calls `body` with each header's name and value in a blob of `version`, without copying them.
    static func forEachHeader(
        in blob: UnsafeRawBufferPointer, version: UInt8,
        _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void
    ) {
        var offset = 0
        func take(_ n: Int) -> UnsafeRawBufferPointer? {
            guard offset + n <= blob.count else { return nil }
            defer { offset += n }
            return UnsafeRawBufferPointer(rebasing: blob[offset..<(offset + n)])
        }
        func number<T: FixedWidthInteger>(_: T.Type) -> Int? {
            guard let bytes = take(MemoryLayout<T>.size) else { return nil }
            if version == firstVersion { return bytes.reduce(0) { $0 << 8 | Int($1) } }
            return Int(T(littleEndian: bytes.loadUnaligned(as: T.self)))
        }
        guard let count = number(UInt16.self) else { return }
        for _ in 0..<count {
            guard let nameLength = number(UInt16.self), let name = take(nameLength),
                let valueLength = number(UInt32.self), let value = take(valueLength)
            else { return }
            body(name, value)
        }
    }

    /// The headers in a blob of `version`.
    static func headers(in blob: UnsafeRawBufferPointer, version: UInt8) -> [SpoolHeader] {
        var headers: [SpoolHeader] = []
        forEachHeader(in: blob, version: version) { name, value in
            headers.append(SpoolHeader(name: String(decoding: name, as: UTF8.self), value: Array(value)))
        }
        return headers
    }

    private static func append<T: FixedWidthInteger>(_ number: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: number.littleEndian) { out.append(contentsOf: $0) }
    }
}
