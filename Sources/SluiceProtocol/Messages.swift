/// The protocol versions this implementation speaks.
public let supportedVersions: ClosedRange<UInt16> = 1...1

/// `HELLO`: the client's version range and name.
public struct Hello: Sendable, Equatable {
    public var minVersion: UInt16
    public var maxVersion: UInt16
    public var clientName: String

    public init(
        minVersion: UInt16 = supportedVersions.lowerBound, maxVersion: UInt16 = supportedVersions.upperBound,
        clientName: String
    ) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.clientName = clientName
    }

    public func frame(requestID: UInt32) -> Frame {
        var out: [UInt8] = []
        out.appendU16(minVersion)
        out.appendU16(maxVersion)
        out.appendString16(utf8Prefix(clientName, maxBytes: 255))
        return Frame(.hello, requestID: requestID, payload: out)
    }

    public init(payload: [UInt8], requestID: UInt32) throws(ProtocolError) {
        var reader = ByteReader(payload, requestID: requestID)
        minVersion = try reader.u16()
        maxVersion = try reader.u16()
        clientName = try reader.string16()
        try reader.expectEnd()
    }

    /// The highest version both sides speak, if any.
    public func negotiate(with server: ClosedRange<UInt16> = supportedVersions) -> UInt16? {
        let low = max(minVersion, server.lowerBound)
        let high = min(maxVersion, server.upperBound)
        return low <= high ? high : nil
    }
}

/// `HELLO_OK`: the chosen version, the server's limits and name.
public struct HelloOK: Sendable, Equatable {
    public var version: UInt16
    public var limits: Limits
    public var serverName: String

    public init(version: UInt16, limits: Limits, serverName: String) {
        self.version = version
        self.limits = limits
        self.serverName = serverName
    }

    public func frame(requestID: UInt32) -> Frame {
        var out: [UInt8] = []
        out.appendU16(version)
        out.appendU32(limits.maxFrameBytes)
        out.appendU32(limits.maxDecompressedBytes)
        out.appendU32(limits.maxRecordsPerFrame)
        out.appendU32(limits.maxRecordBytes)
        out.appendU16(limits.maxKeyBytes)
        out.appendU16(limits.maxHeaders)
        out.appendU32(limits.maxHeaderBytes)
        out.appendString16(utf8Prefix(serverName, maxBytes: 255))
        out.appendU32(limits.maxUnackedBytes)
        out.appendU32(limits.handshakeTimeoutMilliseconds)
        out.appendU32(limits.idleTimeoutMilliseconds)
        out.appendU32(limits.maxConnections)
        return Frame(.helloOK, requestID: requestID, payload: out)
    }

    /// Decodes the payload, ignoring fields a later version appends.
    public init(payload: [UInt8], requestID: UInt32) throws(ProtocolError) {
        var reader = ByteReader(payload, requestID: requestID)
        version = try reader.u16()
        limits = Limits()
        limits.maxFrameBytes = try reader.u32()
        limits.maxDecompressedBytes = try reader.u32()
        limits.maxRecordsPerFrame = try reader.u32()
        limits.maxRecordBytes = try reader.u32()
        limits.maxKeyBytes = try reader.u16()
        limits.maxHeaders = try reader.u16()
        limits.maxHeaderBytes = try reader.u32()
        serverName = try reader.string16()
        // Early version 1 servers end here: no session limits then. The four come together
        // (PROTOCOL.md section 3.1): a part of them is a broken frame.
        if reader.remaining > 0 && reader.remaining < 16 {
            throw ProtocolError(
                .malformedPayload, "HELLO_OK has \(reader.remaining) bytes of its 16 of session limits",
                requestID: requestID)
        }
        if reader.remaining >= 16 {
            limits.maxUnackedBytes = try reader.u32()
            limits.handshakeTimeoutMilliseconds = try reader.u32()
            limits.idleTimeoutMilliseconds = try reader.u32()
            limits.maxConnections = try reader.u32()
        } else {
            limits.maxUnackedBytes = .max
            limits.handshakeTimeoutMilliseconds = 0
            limits.idleTimeoutMilliseconds = 0
            limits.maxConnections = .max
        }
    }
}

/// One failed record in an `ACK`.
public struct RecordFailure: Sendable, Equatable {
    public var index: UInt32
    /// The raw code; servers newer than this client may send codes it does not know.
    public var rawCode: UInt16

    public init(index: UInt32, code: ErrorCode) {
        self.index = index
        self.rawCode = code.rawValue
    }

    public init(index: UInt32, rawCode: UInt16) {
        self.index = index
        self.rawCode = rawCode
    }

    public var code: ErrorCode? { ErrorCode(rawValue: rawCode) }
}

/// `ACK`: the outcome of one `PUBLISH`.
public struct Ack: Sendable, Equatable {
    public var recordCount: UInt32
    /// Failed records in ascending index order; empty when all succeeded.
    public var failures: [RecordFailure]

    public init(recordCount: UInt32, failures: [RecordFailure]) {
        self.recordCount = recordCount
        self.failures = failures
    }

    public func frame(requestID: UInt32, version: UInt8 = 1) -> Frame {
        var out: [UInt8] = []
        out.reserveCapacity(8 + failures.count * 6)
        out.appendU32(recordCount)
        out.appendU32(UInt32(failures.count))
        for failure in failures {
            out.appendU32(failure.index)
            out.appendU16(failure.rawCode)
        }
        return Frame(.ack, requestID: requestID, version: version, payload: out)
    }

    public init(payload: [UInt8], requestID: UInt32) throws(ProtocolError) {
        var reader = ByteReader(payload, requestID: requestID)
        recordCount = try reader.u32()
        let failed = try reader.u32()
        guard recordCount >= 1, failed <= recordCount, Int(failed) * 6 == reader.remaining else {
            throw ProtocolError(.malformedPayload, "ACK failure count \(failed) does not fit", requestID: requestID)
        }
        failures = []
        failures.reserveCapacity(Int(failed))
        for _ in 0..<failed {
            let index = try reader.u32()
            guard index < recordCount, index >= (failures.last.map { $0.index + 1 } ?? 0) else {
                throw ProtocolError(
                    .malformedPayload, "ACK failure index \(index) out of order or range",
                    requestID: requestID)
            }
            failures.append(RecordFailure(index: index, rawCode: try reader.u16()))
        }
    }
}

/// `ERROR`: a numbered error from the server.
public struct ErrorMessage: Sendable, Equatable {
    public var rawCode: UInt16
    public var closing: Bool
    public var retriable: Bool
    public var message: String

    public init(_ error: ProtocolError) {
        self.rawCode = error.code.rawValue
        self.closing = error.closesConnection
        self.retriable = error.code.isRetriable
        self.message = error.message
    }

    public var code: ErrorCode? { ErrorCode(rawValue: rawCode) }

    public func frame(requestID: UInt32, version: UInt8 = 1) -> Frame {
        var out: [UInt8] = []
        out.appendU16(rawCode)
        out.append((closing ? 1 : 0) | (retriable ? 2 : 0))
        out.append(0)
        out.appendString16(utf8Prefix(message, maxBytes: 1024))
        return Frame(.error, requestID: requestID, version: version, payload: out)
    }

    public init(payload: [UInt8], requestID: UInt32) throws(ProtocolError) {
        var reader = ByteReader(payload, requestID: requestID)
        rawCode = try reader.u16()
        let flags = try reader.u8()
        let reserved = try reader.u8()
        guard flags & ~3 == 0, reserved == 0 else {
            throw ProtocolError(.reservedBits, "reserved bits set in ERROR", requestID: requestID)
        }
        closing = flags & 1 != 0
        retriable = flags & 2 != 0
        message = try reader.string16()
        try reader.expectEnd()
    }
}

/// A message a client receives, decoded from a server frame.
public enum ServerMessage: Sendable, Equatable {
    case helloOK(HelloOK)
    case ack(Ack)
    case error(ErrorMessage)
    case statsReply(String)
    case pong([UInt8])

    public init(frame: Frame) throws(ProtocolError) {
        let id = frame.header.requestID
        switch frame.header.type {
        case .helloOK: self = .helloOK(try HelloOK(payload: frame.payload, requestID: id))
        case .ack: self = .ack(try Ack(payload: frame.payload, requestID: id))
        case .error: self = .error(try ErrorMessage(payload: frame.payload, requestID: id))
        case .statsReply:
            guard let text = String(validating: frame.payload, as: UTF8.self) else {
                throw ProtocolError(.malformedPayload, "STATS_REPLY is not UTF-8", requestID: id)
            }
            self = .statsReply(text)
        case .pong: self = .pong(frame.payload)
        case .hello, .publish, .stats, .ping:
            throw ProtocolError(.protocolState, "a client type from the server", requestID: id)
        case nil:
            throw ProtocolError(.unknownType, "unknown type \(frame.header.rawType)", requestID: id)
        }
    }
}

/// The longest prefix of `text` of at most `maxBytes` UTF-8 bytes that ends on a character boundary.
func utf8Prefix(_ text: String, maxBytes: Int) -> ArraySlice<UInt8> {
    let bytes = Array(text.utf8)
    guard bytes.count > maxBytes else { return bytes[...] }
    var end = maxBytes
    while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
    return bytes[..<end]
}
