/// A numbered protocol error, as listed in PROTOCOL.md section 5.
public enum ErrorCode: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    case badMagic = 1
    case unsupportedVersion = 2
    case reservedBits = 3
    case frameTooLarge = 4
    case unknownType = 5
    case protocolState = 6
    case malformedPayload = 7
    case contentSizeMissing = 8
    case decompressedTooLarge = 9
    case badCompression = 10
    case tooManyRecords = 11
    case invalidTopic = 20
    case invalidKey = 21
    case recordTooLarge = 22
    case invalidHeaders = 23
    case topicNotAllowed = 24
    case invalidEventType = 25
    case invalidTimestamp = 26
    case contractViolation = 27
    case unknownTopic = 28
    case deliveryFailed = 30
    case rejectedByBroker = 31
    case overloaded = 40
    case shuttingDown = 41
    case `internal` = 42
    case notPermitted = 43
    case timedOut = 44
    case tooManyConnections = 45

    /// The name used in the spec, in STATS and in logs, e.g. `BAD_MAGIC`.
    public var name: String {
        switch self {
        case .badMagic: "BAD_MAGIC"
        case .unsupportedVersion: "UNSUPPORTED_VERSION"
        case .reservedBits: "RESERVED_BITS"
        case .frameTooLarge: "FRAME_TOO_LARGE"
        case .unknownType: "UNKNOWN_TYPE"
        case .protocolState: "PROTOCOL_STATE"
        case .malformedPayload: "MALFORMED_PAYLOAD"
        case .contentSizeMissing: "CONTENT_SIZE_MISSING"
        case .decompressedTooLarge: "DECOMPRESSED_TOO_LARGE"
        case .badCompression: "BAD_COMPRESSION"
        case .tooManyRecords: "TOO_MANY_RECORDS"
        case .invalidTopic: "INVALID_TOPIC"
        case .invalidKey: "INVALID_KEY"
        case .recordTooLarge: "RECORD_TOO_LARGE"
        case .invalidHeaders: "INVALID_HEADERS"
        case .deliveryFailed: "DELIVERY_FAILED"
        case .rejectedByBroker: "REJECTED_BY_BROKER"
        case .overloaded: "OVERLOADED"
        case .shuttingDown: "SHUTTING_DOWN"
        case .internal: "INTERNAL"
        case .topicNotAllowed: "TOPIC_NOT_ALLOWED"
        case .invalidEventType: "INVALID_EVENT_TYPE"
        case .invalidTimestamp: "INVALID_TIMESTAMP"
        case .contractViolation: "CONTRACT_VIOLATION"
        case .unknownTopic: "UNKNOWN_TOPIC"
        case .notPermitted: "NOT_PERMITTED"
        case .timedOut: "TIMED_OUT"
        case .tooManyConnections: "TOO_MANY_CONNECTIONS"
        }
    }

    /// Whether the server closes the connection after sending this error in an `ERROR` frame.
    public var closesConnection: Bool {
        switch self {
        case .badMagic, .unsupportedVersion, .reservedBits, .frameTooLarge, .protocolState, .shuttingDown,
            .notPermitted,
            .timedOut, .tooManyConnections:
            true
        default: false
        }
    }

    /// Whether the same request may succeed if sent again later.
    public var isRetriable: Bool {
        switch self {
        case .deliveryFailed, .overloaded, .shuttingDown, .internal, .timedOut, .tooManyConnections: true
        default: false
        }
    }

    public var description: String { "\(name) (\(rawValue))" }
}

/// A protocol violation found while decoding, with the request it belongs to.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// The request id of the offending frame, or 0 when its header could not be trusted.
    public var requestID: UInt32
    /// Whether the connection closes after this error: the code's rule, or any error answering `HELLO`.
    public var closesConnection: Bool

    public init(_ code: ErrorCode, _ message: String, requestID: UInt32 = 0, closes: Bool? = nil) {
        self.code = code
        self.message = message
        self.requestID = requestID
        self.closesConnection = closes ?? code.closesConnection
    }

    public var description: String { "\(code.name): \(message)" }
}
