import Foundation
import SluiceProtocol
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A protocol client that sends whatever bytes a test gives it and reads replies with a deadline.
public final class RawClient {
    public let descriptor: Int32
    private var decoder = FrameDecoder(role: .client)
    private var nextID: UInt32 = 100

    public init(socketPath: String) throws {
        let connecting = connectUnixSocket(socketPath)
        guard connecting >= 0 else {
            throw TestFailure("cannot connect to \(socketPath): \(String(cString: strerror(errno)))")
        }
        // Set only on success: a class whose init throws after every property is set runs
        // its deinit, which would close the descriptor a second time (maybe another test's).
        descriptor = connecting
    }

    deinit { close(descriptor) }

    /// Connects and completes the handshake.
    public static func handshaken(socketPath: String) throws -> RawClient {
        let client = try RawClient(socketPath: socketPath)
        try client.send(Hello(clientName: "test").frame(requestID: 1))
        guard case .helloOK = try client.read() else { throw TestFailure("no HELLO_OK") }
        return client
    }

    public func takeID() -> UInt32 {
        nextID += 1
        return nextID
    }

    public func send(_ frame: Frame) throws { try send(frame.encoded()) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw TestFailure("send failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Publishes `records` (zstd-compressed) and returns the request id.
    @discardableResult
    public func publish(_ records: [OutgoingRecord], ack: AckLevel = .durable) throws -> UInt32 {
        let id = takeID()
        let payload = ZstdCompressor().compress(OutgoingRecord.encodePayload(records, ackLevel: ack))
        try send(Frame(.publish, requestID: id, flags: FrameHeader.compressedFlag, payload: payload))
        return id
    }

    /// The next reply frame's id and message; throws on timeout or EOF.
    public func readFrame(timeout: Double = 10) throws -> (UInt32, ServerMessage) {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let frame = try decoder.next() { return (frame.header.requestID, try ServerMessage(frame: frame)) }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw TestFailure("no reply within \(timeout) s") }
            var pollfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&pollfd, 1, Int32(left * 1000) + 1) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw ConnectionClosed() }
            buffer.withUnsafeBytes { decoder.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    public func read(timeout: Double = 10) throws -> ServerMessage { try readFrame(timeout: timeout).1 }

    /// True when the server closes the connection within `timeout` (reading and dropping data).
    public func closedByServer(timeout: Double = 5) -> Bool {
        while true {
            do { _ = try readFrame(timeout: timeout) } catch is ConnectionClosed { return true } catch { return false }
        }
    }

    /// Whether no reply arrives within `seconds` (used only to show an ack level sends nothing).
    public func staysQuiet(for seconds: Double) -> Bool {
        var pollfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&pollfd, 1, Int32(seconds * 1000)) == 0
    }
}

public struct ConnectionClosed: Error {}

/// A record for player `player` carrying `"PLAYER:SEQ"`, the shape `verifyPlayerStreams` checks.
public func playerRecord(topic: String, player: String, sequence: Int) -> OutgoingRecord {
    OutgoingRecord(topic: topic, key: Array(player.utf8), eventType: "test", value: Array("\(player):\(sequence)".utf8))
}

/// A running gateway's STATS document (parsed) and its text, over a fresh connection.
public func statsDocument(socketPath: String) throws -> (document: [String: Any], text: String) {
    let client = try RawClient.handshaken(socketPath: socketPath)
    try client.send(Frame(.stats, requestID: 1, payload: []))
    guard case .statsReply(let json) = try client.read(),
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    else { throw TestFailure("no STATS reply") }
    return (document, json)
}
