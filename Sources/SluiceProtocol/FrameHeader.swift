/// The message types of protocol version 1 (PROTOCOL.md section 3).
public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case helloOK = 0x02
    case publish = 0x03
    case ack = 0x04
    case error = 0x05
    case stats = 0x06
    case statsReply = 0x07
    case ping = 0x08
    case pong = 0x09

    /// Whether a client sends this type (as opposed to the server).
    public var isClientType: Bool {
        switch self {
        case .hello, .publish, .stats, .ping: true
        case .helloOK, .ack, .error, .statsReply, .pong: false
        }
    }
}

/// The fixed 16-byte header that starts every frame.
///
/// ```
///  0      2    3    4       6       8            12           16
///  +------+----+----+-------+-------+------------+------------+-------------
///  | "SL" | v  |type| flags | rsvd  | request id | length     | payload ...
///  +------+----+----+-------+-------+------------+------------+-------------
/// ```
public struct FrameHeader: Sendable, Equatable {
    public static let size = 16
    public static let magic: (UInt8, UInt8) = (0x53, 0x4C)
    /// Flag bit 0: the payload is one zstd frame.
    public static let compressedFlag: UInt16 = 0x0001

    public var version: UInt8
    /// The raw type byte; not every value is a known `MessageType`.
    public var rawType: UInt8
    public var flags: UInt16
    public var requestID: UInt32
    public var payloadLength: UInt32

    public init(version: UInt8 = 1, type: MessageType, flags: UInt16 = 0, requestID: UInt32, payloadLength: UInt32) {
        self.version = version
        self.rawType = type.rawValue
        self.flags = flags
        self.requestID = requestID
        self.payloadLength = payloadLength
    }

    /// A header with a raw type byte, which need not be a known `MessageType`.
    public init(version: UInt8, rawType: UInt8, flags: UInt16, requestID: UInt32, payloadLength: UInt32) {
        self.version = version
        self.rawType = rawType
        self.flags = flags
        self.requestID = requestID
        self.payloadLength = payloadLength
    }

    public var type: MessageType? { MessageType(rawValue: rawType) }
    public var isCompressed: Bool { flags & Self.compressedFlag != 0 }

    /// Appends the 16 header bytes to `out`.
    public func encode(into out: inout [UInt8]) {
        out.append(Self.magic.0)
        out.append(Self.magic.1)
        out.append(version)
        out.append(rawType)
        out.appendU16(flags)
        out.appendU16(0)
        out.appendU32(requestID)
        out.appendU32(payloadLength)
    }
}

/// One whole frame: header and (still compressed, if so flagged) payload.
public struct Frame: Sendable, Equatable {
    public var header: FrameHeader
    public var payload: [UInt8]

    public init(header: FrameHeader, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }

    /// Builds a frame of `type` around `payload`, filling in the length.
    public init(_ type: MessageType, requestID: UInt32, version: UInt8 = 1, flags: UInt16 = 0, payload: [UInt8]) {
        self.header = FrameHeader(
            version: version, type: type, flags: flags, requestID: requestID, payloadLength: UInt32(payload.count))
        self.payload = payload
    }

    /// The frame's wire bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(FrameHeader.size + payload.count)
        encode(into: &out)
        return out
    }

    public func encode(into out: inout [UInt8]) {
        header.encode(into: &out)
        out.append(contentsOf: payload)
    }
}
