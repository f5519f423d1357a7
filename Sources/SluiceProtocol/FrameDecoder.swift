/// Splits a byte stream into frames, checking each header before reading its payload.
///
/// Works on any split of the stream: feed bytes as they arrive and call `next()` until it
/// returns nil. A header that breaks framing (bad magic, version, reserved bits, length
/// over the limit) throws and leaves the decoder failed, since the stream can no longer be
/// trusted; the payload length is checked before any payload buffer is allocated.
///
/// State machine: `waitingForHeader` → `waitingForPayload(header)` → `waitingForHeader`,
/// or → `failed` on a framing error.
public struct FrameDecoder: Sendable {
    enum State: Sendable {
        case waitingForHeader
        case waitingForPayload(FrameHeader)
        case failed
    }

    /// Which side reads the stream: the server applies its limits, a client its own.
    public enum Role: Sendable {
        case server(Limits)
        case client
    }

    private var state = State.waitingForHeader
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private let role: Role
    /// The version every frame must carry; until negotiated, 1.
    public var expectedVersion: UInt8 = 1
    /// Server role: whether `HELLO` succeeded, which decides the frame types allowed.
    public var handshakeDone = false

    public init(role: Role) {
        self.role = role
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedCount: Int { buffer.count - readIndex }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(ProtocolError) -> Frame? {
        while true {
            switch state {
            case .failed:
                return nil
            case .waitingForHeader:
                guard bufferedCount >= FrameHeader.size else { return nil }
                let header = try parseHeader(at: readIndex)
                readIndex += FrameHeader.size
                state = .waitingForPayload(header)
            case .waitingForPayload(let header):
                let length = Int(header.payloadLength)
                guard bufferedCount >= length else { return nil }
                let payload = Array(buffer[readIndex..<(readIndex + length)])
                readIndex += length
                state = .waitingForHeader
                return Frame(header: header, payload: payload)
            }
        }
    }

    private mutating func parseHeader(at: Int) throws(ProtocolError) -> FrameHeader {
        let b = buffer
        guard b[at] == FrameHeader.magic.0, b[at + 1] == FrameHeader.magic.1 else {
            throw fail(ProtocolError(.badMagic, "the stream does not start with a Sluice frame"))
        }
        var reader = ByteReader(b, from: at + 2, requestID: 0)
        let version = try reader.u8()
        let rawType = try reader.u8()
        let flags = try reader.u16()
        let reserved = try reader.u16()
        let requestID = try reader.u32()
        let length = try reader.u32()
        let header = FrameHeader(
            version: version, rawType: rawType, flags: flags, requestID: requestID, payloadLength: length)

        // Checked in this order, first failure wins (PROTOCOL.md section 2.1).
        if version != expectedVersion {
            // Another version may lay its header out differently: no request id to trust.
            throw fail(ProtocolError(.unsupportedVersion, "frame version \(version), expected \(expectedVersion)"))
        }
        if reserved != 0 || flags & ~FrameHeader.compressedFlag != 0 {
            throw fail(ProtocolError(.reservedBits, "reserved header bits are set", requestID: requestID))
        }
        let limit: UInt32
        switch role {
        case .server(let limits):
            let type = MessageType(rawValue: rawType)
            if !handshakeDone && type != .hello {
                throw fail(ProtocolError(.protocolState, "the first frame must be HELLO", requestID: requestID))
            }
            if handshakeDone && type == .hello {
                throw fail(ProtocolError(.protocolState, "HELLO sent twice", requestID: requestID))
            }
            if let type, !type.isClientType {
                throw fail(
                    ProtocolError(.protocolState, "\(type) is sent by servers, not clients", requestID: requestID))
            }
            if flags & FrameHeader.compressedFlag != 0, let type, type != .publish {
                throw fail(ProtocolError(.reservedBits, "COMPRESSED is only for PUBLISH", requestID: requestID))
            }
            limit = type == .hello ? Limits.maxHelloBytes : limits.maxFrameBytes
        case .client:
            if flags & FrameHeader.compressedFlag != 0 {
                throw fail(ProtocolError(.reservedBits, "COMPRESSED on a server frame", requestID: requestID))
            }
            limit = Limits.maxServerFrameBytes
        }
        if length > limit {
            throw fail(
                ProtocolError(
                    .frameTooLarge, "payload length \(length) is over the limit \(limit)", requestID: requestID))
        }
        return header
    }

    /// Marks the stream as lost and returns `error` for the caller to throw.
    private mutating func fail(_ error: ProtocolError) -> ProtocolError {
        state = .failed
        buffer = []
        readIndex = 0
        return error
    }

    /// Drops consumed bytes once they dominate the buffer, keeping appends amortised O(1).
    private mutating func compactIfWorthwhile() {
        if readIndex > 0 && (readIndex == buffer.count || readIndex >= 65_536 && readIndex * 2 >= buffer.count) {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
