/// The server's side of one connection, without I/O: bytes in, requests out.
///
/// Enforces the handshake (`HELLO` first, once), decompresses and decodes payloads, and
/// turns every violation into a `ProtocolError`. After an error whose code closes the
/// connection, `next()` returns nil for good.
public struct ServerSession {
    /// A request decoded from the client.
    public enum Request: Sendable {
        /// A valid `HELLO`; answer with `HelloOK` for `version`.
        case hello(Hello, version: UInt16, requestID: UInt32)
        case publish(PublishBatch, requestID: UInt32)
        case stats(requestID: UInt32)
        case ping([UInt8], requestID: UInt32)
    }

    public let limits: Limits
    private var decoder: FrameDecoder
    /// Made on the first compressed frame: a zstd context costs about 94 KiB.
    private var decompressor: ZstdDecompressor?
    private var closed = false
    /// The negotiated version, once the handshake is done.
    public private(set) var version: UInt16?

    public init(limits: Limits) {
        self.limits = limits
        self.decoder = FrameDecoder(role: .server(limits))
    }

    /// Bytes received but not yet decoded.
    public var bufferedCount: Int { decoder.bufferedCount }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if !closed { decoder.feed(bytes) }
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next request, nil when more bytes are needed; throws for a bad frame.
    public mutating func next() throws(ProtocolError) -> Request? {
        guard !closed else { return nil }
        do {
            guard let frame = try decoder.next() else { return nil }
            return try decode(frame)
        } catch {
            if error.closesConnection { closed = true }
            throw error
        }
    }

    private mutating func zstd() -> ZstdDecompressor {
        if let decompressor { return decompressor }
        let made = ZstdDecompressor()
        decompressor = made
        return made
    }

    private mutating func decode(_ frame: Frame) throws(ProtocolError) -> Request {
        let id = frame.header.requestID
        // The header stage (FrameDecoder) already refused the wrong type for the handshake
        // state, server types and COMPRESSED on a known type other than PUBLISH.
        guard let type = frame.header.type else {
            throw ProtocolError(.unknownType, "unknown message type \(frame.header.rawType)", requestID: id)
        }
        switch type {
        case .hello:
            // Any error answering HELLO closes the connection: the handshake happens once. The
            // version range is checked before the rest (PROTOCOL.md section 3.1): a later
            // version may lay the rest out differently, and its client must hear
            // UNSUPPORTED_VERSION, not MALFORMED_PAYLOAD.
            let hello: Hello
            let chosen: UInt16
            do throws(ProtocolError) {
                var reader = ByteReader(frame.payload, requestID: id)
                let range = Hello(minVersion: try reader.u16(), maxVersion: try reader.u16(), clientName: "")
                guard let common = range.negotiate() else {
                    throw ProtocolError(
                        .unsupportedVersion,
                        "client speaks \(range.minVersion)...\(range.maxVersion), server speaks "
                            + "\(supportedVersions.lowerBound)...\(supportedVersions.upperBound)",
                        requestID: id)
                }
                hello = try Hello(payload: frame.payload, requestID: id)
                chosen = common
            } catch {
                throw ProtocolError(error.code, error.message, requestID: id, closes: true)
            }
            version = chosen
            decoder.expectedVersion = UInt8(chosen)
            decoder.handshakeDone = true
            return .hello(hello, version: chosen, requestID: id)
        case .publish:
            let payload =
                frame.header.isCompressed
                ? try zstd().decompress(frame.payload, limit: limits.maxDecompressedBytes, requestID: id)
                : frame.payload
            return .publish(try PublishBatch(payload: payload, limits: limits, requestID: id), requestID: id)
        case .stats:
            guard frame.payload.isEmpty else {
                throw ProtocolError(.malformedPayload, "STATS takes no payload", requestID: id)
            }
            return .stats(requestID: id)
        case .ping:
            guard frame.payload.count <= Limits.maxPingBytes else {
                throw ProtocolError(.malformedPayload, "PING payload over \(Limits.maxPingBytes) bytes", requestID: id)
            }
            return .ping(frame.payload, requestID: id)
        case .helloOK, .ack, .error, .statsReply, .pong:
            preconditionFailure("server types are rejected by the header stage")
        }
    }
}
