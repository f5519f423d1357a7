/// How long a client waits for its `ACK` (PROTOCOL.md section 4).
public enum AckLevel: UInt8, Sendable, CaseIterable {
    /// Acked once every record is in Kafka (or has failed).
    case durable = 0
    /// Acked once every record is validated and queued in memory.
    case accepted = 1
    /// Never acked; an `ACK` is sent only to report failures.
    case none = 2

    public init?(name: String) {
        switch name.lowercased() {
        case "durable": self = .durable
        case "accepted": self = .accepted
        case "none": self = .none
        default: return nil
        }
    }
}

/// A 16-byte event id (UUID); all zero asks the server to assign one.
public struct EventID: Sendable, Hashable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = EventID(high: 0, low: 0)
    public var isZero: Bool { high == 0 && low == 0 }

    /// A random version 4 UUID from `generator`.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> EventID {
        let high = generator.next() & ~0xF000 | 0x4000  // version 4
        let low = generator.next() & ~(0xC000 << 48) | (0x8000 << 48)  // variant 10
        return EventID(high: high, low: low)
    }

    /// Writes the 36-character text form (`8-4-4-4-12` lowercase hex) into `out`.
    public func writeText(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 36)
        let hex: StaticString = "0123456789abcdef"
        hex.withUTF8Buffer { digits in
            var position = 0
            for byteIndex in 0..<16 {
                if byteIndex == 4 || byteIndex == 6 || byteIndex == 8 || byteIndex == 10 {
                    out[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = byteIndex < 8 ? high : low
                let byte = Int(truncatingIfNeeded: word >> UInt64(56 - (byteIndex % 8) * 8)) & 0xFF
                out[position] = digits[byte >> 4]
                out[position + 1] = digits[byte & 0xF]
                position += 2
            }
        }
    }

    public var uuidString: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            writeText(into: UnsafeMutableRawBufferPointer(buffer))
            return 36
        }
    }
}

/// One record of a decoded `PUBLISH`, as ranges into the batch's payload (no copies).
public struct RecordView: Sendable {
    public var topic: Range<Int>
    public var key: Range<Int>
    public var eventType: Range<Int>
    public var eventID: EventID
    /// Milliseconds since the Unix epoch; 0 means the server's receive time.
    public var timestamp: Int64
    public var headerCount: Int
    /// The header entries: `headerCount` × (`str16` name, `bytes32` value).
    public var headers: Range<Int>
    public var value: Range<Int>
    /// Why the record is rejected alone, or nil when it is valid.
    public var error: ErrorCode?
}

/// A decoded `PUBLISH`: the ack level and records that point into one payload buffer.
public struct PublishBatch: Sendable {
    public var ackLevel: AckLevel
    public var payload: [UInt8]
    public var records: [RecordView]

    /// Parses and validates an uncompressed `PUBLISH` payload against `limits`.
    ///
    /// Structural faults reject the whole batch (`MALFORMED_PAYLOAD`, `TOO_MANY_RECORDS`);
    /// rule violations mark single records (`RecordView.error`).
    public init(payload: [UInt8], limits: Limits, requestID: UInt32) throws(ProtocolError) {
        var reader = ByteReader(payload, requestID: requestID)
        let rawLevel = try reader.u8()
        guard let level = AckLevel(rawValue: rawLevel) else {
            throw ProtocolError(.malformedPayload, "unknown ack level \(rawLevel)", requestID: requestID)
        }
        guard try reader.u8() == 0 else {
            throw ProtocolError(.reservedBits, "the reserved byte of PUBLISH is set", requestID: requestID)
        }
        let count = try reader.u32()
        guard count > 0 else {
            throw ProtocolError(.malformedPayload, "a PUBLISH with no records", requestID: requestID)
        }
        guard count <= limits.maxRecordsPerFrame else {
            throw ProtocolError(
                .tooManyRecords, "\(count) records, the limit is \(limits.maxRecordsPerFrame)", requestID: requestID)
        }
        // Each record takes at least 36 bytes, so a lying count cannot reserve much memory.
        guard Int(count) * 36 <= reader.remaining else {
            throw ProtocolError(.malformedPayload, "\(count) records cannot fit in the payload", requestID: requestID)
        }
        var records: [RecordView] = []
        records.reserveCapacity(Int(count))
        for _ in 0..<count {
            records.append(try Self.parseRecord(&reader, limits: limits))
        }
        try reader.expectEnd()
        self.ackLevel = level
        self.payload = payload
        self.records = records
    }

    private static func parseRecord(_ reader: inout ByteReader, limits: Limits) throws(ProtocolError) -> RecordView {
        let topic = try reader.slice16()
        let key = try reader.slice16()
        let eventType = try reader.slice16()
        let eventID = EventID(high: try reader.u64(), low: try reader.u64())
        let timestamp = Int64(bitPattern: try reader.u64())
        let headerCount = Int(try reader.u16())
        let headersStart = reader.offset
        var headerBytes = 0
        var emptyHeaderName = false
        var reservedHeaderName = false
        for _ in 0..<headerCount {
            let name = try reader.slice16()
            let value = try reader.slice32()
            emptyHeaderName = emptyHeaderName || name.isEmpty || !isValidUTF8(reader.bytes, name)
            reservedHeaderName = reservedHeaderName || StampedHeaders.isReserved(reader.bytes[name])
            headerBytes += name.count + value.count
        }
        let headers = headersStart..<reader.offset
        let value = try reader.slice32()

        var error: ErrorCode?
        let recordBytes = topic.count + key.count + eventType.count + headerBytes + value.count
        // Rules in field order, the record's size last (PROTOCOL.md section 3.2).
        if !isValidTopic(reader.bytes[topic]) {
            error = .invalidTopic
        } else if key.isEmpty || key.count > Int(limits.maxKeyBytes) || !isValidUTF8(reader.bytes, key) {
            error = .invalidKey
        } else if !isValidUTF8(reader.bytes, eventType) {
            error = .invalidEventType
        } else if timestamp < 0 {
            error = .invalidTimestamp
        } else if headerCount > Int(limits.maxHeaders) || headerBytes > Int(limits.maxHeaderBytes) || emptyHeaderName
            || reservedHeaderName
        {
            error = .invalidHeaders
        } else if recordBytes > Int(limits.maxRecordBytes) {
            error = .recordTooLarge
        }
        return RecordView(
            topic: topic, key: key, eventType: eventType, eventID: eventID, timestamp: timestamp,
            headerCount: headerCount, headers: headers, value: value, error: error)
    }

    /// Kafka's rule: 1–249 bytes of `a–z A–Z 0–9 . _ -`, and not `.` or `..`.
    public static func isValidTopic<Bytes: Collection<UInt8>>(_ name: Bytes) -> Bool {
        guard (1...249).contains(name.count) else { return false }
        var dots = 0
        for byte in name {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                break
            case UInt8(ascii: "."):
                dots += 1
            default:
                return false
            }
        }
        return dots != name.count || name.count > 2
    }

    /// Calls `body` with each header's name and value bytes of `record`.
    public func forEachHeader(of record: RecordView, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        payload.withUnsafeBytes { bytes in
            var offset = record.headers.lowerBound
            for _ in 0..<record.headerCount {
                let nameLength = Int(UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]))
                let name = UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + nameLength)])
                offset += 2 + nameLength
                let valueLength = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                let value = UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 4 + valueLength)])
                offset += 4 + valueLength
                body(name, value)
            }
        }
    }

    /// The text of a range of the payload, e.g. a record's topic.
    public func string(_ range: Range<Int>) -> String {
        String(decoding: payload[range], as: UTF8.self)
    }
}

/// A record to publish, as a client builds it.
public struct OutgoingRecord: Sendable, Equatable {
    public var topic: String
    public var key: [UInt8]
    public var eventType: String
    public var eventID: EventID
    public var timestamp: Int64
    public var headers: [(name: String, value: [UInt8])]
    public var value: [UInt8]

    public init(
        topic: String, key: [UInt8], eventType: String = "", eventID: EventID = .zero, timestamp: Int64 = 0,
        headers: [(name: String, value: [UInt8])] = [], value: [UInt8]
    ) {
        self.topic = topic
        self.key = key
        self.eventType = eventType
        self.eventID = eventID
        self.timestamp = timestamp
        self.headers = headers
        self.value = value
    }

    public static func == (a: OutgoingRecord, b: OutgoingRecord) -> Bool {
        a.topic == b.topic && a.key == b.key && a.eventType == b.eventType && a.eventID == b.eventID
            && a.timestamp == b.timestamp && a.value == b.value && a.headers.elementsEqual(b.headers) { $0 == $1 }
    }

    /// Appends the record's wire form (PROTOCOL.md section 3.2).
    public func encode(into out: inout [UInt8]) {
        out.appendString16(topic.utf8)
        out.appendString16(key)
        out.appendString16(eventType.utf8)
        out.appendU64(eventID.high)
        out.appendU64(eventID.low)
        out.appendU64(UInt64(bitPattern: timestamp))
        out.appendU16(UInt16(headers.count))
        for header in headers {
            out.appendString16(header.name.utf8)
            out.appendBytes32(header.value)
        }
        out.appendBytes32(value)
    }

    /// Encodes a whole uncompressed `PUBLISH` payload.
    public static func encodePayload(_ records: [OutgoingRecord], ackLevel: AckLevel) -> [UInt8] {
        var out: [UInt8] = [ackLevel.rawValue, 0]
        out.appendU32(UInt32(records.count))
        for record in records { record.encode(into: &out) }
        return out
    }
}
