/// The server's input limits, announced to clients in `HELLO_OK` (PROTOCOL.md section 6).
public struct Limits: Sendable, Equatable {
    /// Largest payload length accepted in a frame header. Default: 1,048,576.
    public var maxFrameBytes: UInt32 = 1_048_576
    /// Largest declared zstd content size of a compressed payload. Default: 4,194,304.
    public var maxDecompressedBytes: UInt32 = 4_194_304
    /// Most records in one `PUBLISH`. Default: 10,000.
    public var maxRecordsPerFrame: UInt32 = 10_000
    /// Largest record (topic, key, event type, headers and value). Default: 1,000,000.
    public var maxRecordBytes: UInt32 = 1_000_000
    /// Longest key. Default: 1,024.
    public var maxKeyBytes: UInt16 = 1_024
    /// Most headers on one record. Default: 64.
    public var maxHeaders: UInt16 = 64
    /// Most bytes of header names and values on one record. Default: 65,536.
    public var maxHeaderBytes: UInt32 = 65_536
    /// `PUBLISH` payload bytes one connection may have awaiting their `ACK`; past it the
    /// server stops reading that connection. Default: 67,108,864.
    public var maxUnackedBytes: UInt32 = 67_108_864
    /// Time a new connection has to send `HELLO`. Default: 5,000 ms.
    public var handshakeTimeoutMilliseconds: UInt32 = 5_000
    /// Time a connection may sit with no frame and nothing outstanding; 0 = never. Default: 600,000 ms.
    public var idleTimeoutMilliseconds: UInt32 = 600_000
    /// Connections the server serves at once. Default: 1,024.
    public var maxConnections: UInt32 = 1_024

    /// Largest `HELLO` payload, fixed by the spec.
    public static let maxHelloBytes: UInt32 = 1_024
    /// Largest `PING` payload, fixed by the spec.
    public static let maxPingBytes = 256
    /// Largest server frame a client accepts.
    public static let maxServerFrameBytes: UInt32 = 16_777_216

    public init() {}
}
