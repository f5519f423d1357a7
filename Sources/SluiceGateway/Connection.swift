import Dispatch
import Foundation
import Logging
import SluiceProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The process on the other end of a connection, from `SO_PEERCRED`.
struct Peer: Sendable {
    var uid: UInt32
    var gid: UInt32
    var pid: Int32
    /// Topic prefixes this peer may publish to; nil when unrestricted.
    var topicPrefixes: [[UInt8]]?

    /// Reads the credentials of the process connected on `descriptor`.
    static func of(descriptor: Int32) -> Peer? {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return Peer(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
    }

    var identity: String { "uid=\(uid) pid=\(pid)" }

    /// Header values stamped into every record this peer publishes.
    var uidHeader: [UInt8] { Array(String(uid).utf8) }
    var pidHeader: [UInt8] { Array(String(pid).utf8) }

    /// Whether `topic` starts with one of the allowed prefixes.
    func mayPublish(to topic: UnsafeRawBufferPointer) -> Bool {
        guard let topicPrefixes else { return true }
        return topicPrefixes.contains { prefix in
            prefix.count <= topic.count && topic.prefix(prefix.count).elementsEqual(prefix)
        }
    }
}

/// `struct ucred` from `<sys/socket.h>`, which Glibc's module map hides without `_GNU_SOURCE`.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// One client on the Unix socket: reads frames, hands publishes to the router, writes replies.
///
/// It stops reading (backpressure, never unbounded buffering) while its unsent replies pass
/// `outputHighWater` or its unacknowledged `PUBLISH` bytes pass `maxUnackedBytes`, so one
/// client at its quota costs the others nothing.
///
/// `@unchecked Sendable`: every mutable property is touched only on `queue`; other threads
/// (delivery reports) reach the connection by `queue.async`.
final class Connection: @unchecked Sendable {
    let id: UInt64
    let queue: DispatchQueue
    private let handle: FileHandle
    private let readSource: DispatchSourceRead
    private var writeSource: DispatchSourceWrite?
    private var session: ServerSession
    private var eventIDs = EventIDGenerator()
    private let context: GatewayContext
    private let logger: Logger
    private let onClose: @Sendable (UInt64) -> Void
    private let peer: Peer
    private let stamp: PeerStamp

    private var output: [UInt8] = []
    private var outputOffset = 0
    private var readBuffer = [UInt8](repeating: 0, count: 65_536)
    private var readingPaused = false
    private var stopped = false
    private var closing = false
    private var closed = false
    /// Payload bytes of `PUBLISH` frames not yet settled.
    private var unackedBytes = 0
    private var outstandingBatches = 0
    /// Monotonic ms of the last frame received, for the idle timeout.
    private var lastActivity = uptimeMilliseconds()
    /// The version that replies carry once negotiated.
    private var version: UInt8 = 1
    /// Who is on the other end: peer credentials, then the name from HELLO.
    private var identity: String

    /// Above this many unsent reply bytes the connection stops reading until the client
    /// catches up, so a client that never reads its acks cannot grow the gateway's memory.
    static let outputHighWater = 1 << 20

    init(
        id: UInt64, descriptor: Int32, peer: Peer, context: GatewayContext,
        onClose: @escaping @Sendable (UInt64) -> Void
    ) {
        self.id = id
        self.queue = DispatchQueue(label: "sluice.connection.\(id)")
        self.handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        self.readSource = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        self.session = ServerSession(limits: context.limits)
        self.context = context
        self.onClose = onClose
        self.peer = peer
        self.stamp = PeerStamp(uid: peer.uidHeader, pid: peer.pidHeader)
        identity = peer.identity
        var logger = context.logger
        logger[metadataKey: "connection"] = "\(id)"
        logger[metadataKey: "peer"] = "\(identity)"
        self.logger = logger
    }

    func start() {
        readSource.setEventHandler { [unowned self] in readAvailable() }
        readSource.setCancelHandler { [self] in
            try? handle.close()
            onClose(id)
        }
        readSource.activate()
        let timeout = Int(context.limits.handshakeTimeoutMilliseconds)
        if timeout > 0 {
            queue.asyncAfter(deadline: .now() + .milliseconds(timeout)) { [weak self] in
                guard let self, !closed, session.version == nil else { return }
                reject(ProtocolError(.timedOut, "no HELLO within \(timeout) ms"))
            }
        }
    }

    /// Stops taking new requests (gateway shutdown); replies still go out.
    func stopReading() {
        queue.sync {
            stopped = true
            updateReading()
        }
    }

    /// Sends what is buffered as far as the socket takes it now, then closes.
    func close() {
        queue.sync {
            _ = writePending()
            shutdownNow()
        }
    }

    /// Closes the connection if it has been idle (no frame, nothing outstanding) too long.
    func closeIfIdle(now: Int64) {
        queue.async { [self] in
            let timeout = Int64(context.limits.idleTimeoutMilliseconds)
            guard timeout > 0, !closed, !closing, outstandingBatches == 0, now - lastActivity >= timeout else { return }
            reject(ProtocolError(.timedOut, "idle for \(timeout) ms"))
        }
    }

    // MARK: reading

    private func readAvailable() {
        let count = readBuffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            lastActivity = uptimeMilliseconds()
            readBuffer.withUnsafeBytes { session.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            processRequests()
        } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            shutdownNow()
        }
    }

    private func processRequests() {
        while !closing && !closed && !readingPaused {
            let request: ServerSession.Request?
            do {
                request = try session.next()
            } catch {
                reject(error)
                continue
            }
            guard let request else { return }
            context.stats.framesReceived.add(1, ordering: .relaxed)
            handle(request)
        }
    }

    private func handle(_ request: ServerSession.Request) {
        switch request {
        case .hello(let hello, let chosen, let requestID):
            version = UInt8(chosen)
            identity += " client=\(hello.clientName)"
            logger.debug("HELLO from \(hello.clientName), version \(chosen)")
            send(
                HelloOK(version: chosen, limits: context.limits, serverName: "sluice/\(sluiceVersion)")
                    .frame(requestID: requestID))
        case .publish(var batch, let requestID):
            if peer.topicPrefixes != nil { applyTopicPolicy(&batch) }
            let size = batch.payload.count
            unackedBytes += size
            outstandingBatches += 1
            context.router.publish(
                batch, requestID: requestID, client: identity, peer: stamp, eventIDs: &eventIDs,
                onAck: { [self] requestID, ack in
                    queue.async { [self] in send(ack.frame(requestID: requestID, version: version)) }
                },
                onSettled: { [self] in
                    queue.async { [self] in
                        unackedBytes -= size
                        outstandingBatches -= 1
                        updateReading()
                    }
                })
            updateReading()
        case .stats(let requestID):
            send(Frame(.statsReply, requestID: requestID, version: version, payload: context.statsJSON()))
        case .ping(let payload, let requestID):
            send(Frame(.pong, requestID: requestID, version: version, payload: payload))
        }
    }

    /// Marks records whose topic this peer may not publish to.
    private func applyTopicPolicy(_ batch: inout PublishBatch) {
        let payload = batch.payload
        payload.withUnsafeBytes { bytes in
            for index in batch.records.indices where batch.records[index].error == nil {
                if !peer.mayPublish(to: UnsafeRawBufferPointer(rebasing: bytes[batch.records[index].topic])) {
                    batch.records[index].error = .topicNotAllowed
                }
            }
        }
    }

    private func reject(_ error: ProtocolError) {
        context.stats.framesRejected.add(1, ordering: .relaxed)
        context.stats.countError(error.code)
        logger.info("rejected a frame: \(error)")
        send(ErrorMessage(error).frame(requestID: error.requestID, version: version))
        if error.code.closesConnection {
            closing = true
            updateReading()
            if writePending() { shutdownNow() }
        }
    }

    // MARK: writing

    private func send(_ frame: Frame) {
        guard !closed else { return }
        frame.encode(into: &output)
        _ = writePending()
        updateReading()
    }

    /// Writes buffered output; true when all of it went out.
    private func writePending() -> Bool {
        while outputOffset < output.count {
            let written = output.withUnsafeBytes {
                Glibc.send(
                    handle.fileDescriptor, $0.baseAddress! + outputOffset, $0.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                outputOffset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                armWriteSource()
                return false
            } else {
                shutdownNow()
                return false
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 65_536)
        outputOffset = 0
        if closing {
            shutdownNow()
        } else {
            updateReading()
        }
        return true
    }

    private func armWriteSource() {
        guard writeSource == nil, !closed else { return }
        let source = DispatchSource.makeWriteSource(fileDescriptor: handle.fileDescriptor, queue: queue)
        source.setEventHandler { [unowned self] in
            writeSource?.cancel()
            writeSource = nil
            _ = writePending()
        }
        writeSource = source
        source.activate()
    }

    /// Pauses or resumes reading from the socket as the connection's limits require.
    private func updateReading() {
        guard !closed else { return }
        let overQuota =
            output.count - outputOffset > Self.outputHighWater || unackedBytes > Int(context.limits.maxUnackedBytes)
        let pause = stopped || closing || overQuota
        if pause && !readingPaused {
            readingPaused = true
            readSource.suspend()
        } else if !pause && readingPaused {
            readingPaused = false
            readSource.resume()
            // Frames already buffered are not signalled again by the read source.
            queue.async { [weak self] in self?.processRequests() }
        }
    }

    private func shutdownNow() {
        guard !closed else { return }
        closed = true
        writeSource?.cancel()
        writeSource = nil
        if readingPaused {
            readingPaused = false
            readSource.resume()
        }
        readSource.cancel()
    }
}

/// The peer's header values, stamped into every record it publishes.
struct PeerStamp: Sendable {
    var uid: [UInt8]
    var pid: [UInt8]

    static let uidHeader: StaticString = "sluice-uid"
    static let pidHeader: StaticString = "sluice-pid"
}
