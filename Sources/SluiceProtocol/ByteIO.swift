/// Reads big-endian fields from a byte array, throwing `MALFORMED_PAYLOAD` past the end.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int
    let requestID: UInt32

    init(_ bytes: [UInt8], from start: Int = 0, requestID: UInt32) {
        self.bytes = bytes
        self.offset = start
        self.end = bytes.count
        self.requestID = requestID
    }

    var remaining: Int { end - offset }

    mutating func skip(_ count: Int) throws(ProtocolError) -> Int {
        guard count >= 0, count <= remaining else {
            throw ProtocolError(.malformedPayload, "a length runs past the end of the payload", requestID: requestID)
        }
        let start = offset
        offset += count
        return start
    }

    mutating func u8() throws(ProtocolError) -> UInt8 { bytes[try skip(1)] }

    mutating func u16() throws(ProtocolError) -> UInt16 {
        let at = try skip(2)
        return UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
    }

    mutating func u32() throws(ProtocolError) -> UInt32 {
        let at = try skip(4)
        return bytes.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    }

    mutating func u64() throws(ProtocolError) -> UInt64 {
        let at = try skip(8)
        return bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    }

    /// A `str16` or `bytes32` field as a range of `bytes`.
    mutating func slice16() throws(ProtocolError) -> Range<Int> {
        let length = Int(try u16())
        let start = try skip(length)
        return start..<(start + length)
    }

    mutating func slice32() throws(ProtocolError) -> Range<Int> {
        let length = Int(try u32())
        let start = try skip(length)
        return start..<(start + length)
    }

    /// A `str16` as text; bytes that are not UTF-8 are `MALFORMED_PAYLOAD`.
    mutating func string16() throws(ProtocolError) -> String {
        let range = try slice16()
        guard isValidUTF8(bytes, range) else {
            throw ProtocolError(.malformedPayload, "a str16 field is not valid UTF-8", requestID: requestID)
        }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    func expectEnd() throws(ProtocolError) {
        guard remaining == 0 else {
            throw ProtocolError(
                .malformedPayload, "\(remaining) trailing bytes after the payload", requestID: requestID)
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendU16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendU32(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    mutating func appendU64(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    /// Appends a `str16`; the caller guarantees the length fits in 16 bits.
    mutating func appendString16<Bytes: Collection<UInt8>>(_ value: Bytes) {
        appendU16(UInt16(value.count))
        append(contentsOf: value)
    }

    mutating func appendBytes32<Bytes: Collection<UInt8>>(_ value: Bytes) {
        appendU32(UInt32(value.count))
        append(contentsOf: value)
    }
}
