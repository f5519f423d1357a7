import Dispatch
import Foundation
import Logging
import SluiceProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// One client on the Unix socket: reads frames, hands publishes to the router, writes replies.
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

    private var output: [UInt8] = []
    private var outputOffset = 0
    private var readBuffer = [UInt8](repeating: 0, count: 65_536)
    private var readingPaused = false
    private var closing = false
    private var closed = false
    /// The version that replies carry once negotiated.
    private var version: UInt8 = 1
    /// Who is on the other end: peer credentials, then the name from HELLO.
    private var identity: String

    /// Above this many unsent reply bytes the connection stops reading until the client
    /// catches up, so a client that never reads its acks cannot grow the gateway's memory.
    static let outputHighWater = 1 << 20

    init(id: UInt64, descriptor: Int32, context: GatewayContext, onClose: @escaping @Sendable (UInt64) -> Void) {
        self.id = id
        self.queue = DispatchQueue(label: "sluice.connection.\(id)")
        self.handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        self.readSource = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        self.session = ServerSession(limits: context.limits)
        self.context = context
        self.onClose = onClose
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        if getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 {
            identity = "uid=\(credentials.uid) pid=\(credentials.pid)"
        } else {
            identity = "unknown"
        }
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
    }

    /// Stops taking new requests (gateway shutdown); replies still go out.
    func stopReading() {
        queue.sync { pauseReading() }
    }

    /// Sends what is buffered as far as the socket takes it now, then closes.
    func close() {
        queue.sync {
            _ = writePending()
            shutdownNow()
        }
    }

    // MARK: reading

    private func readAvailable() {
        let count = readBuffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            readBuffer.withUnsafeBytes { session.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            processRequests()
        } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            shutdownNow()
        }
    }

    private func processRequests() {
        while !closing {
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
            if readingPaused { return }
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
        case .publish(let batch, let requestID):
            context.router.publish(batch, requestID: requestID, client: identity, eventIDs: &eventIDs) {
                [self] requestID, ack in
                queue.async { [self] in send(ack.frame(requestID: requestID, version: version)) }
            }
        case .stats(let requestID):
            send(Frame(.statsReply, requestID: requestID, version: version, payload: context.statsJSON()))
        case .ping(let payload, let requestID):
            send(Frame(.pong, requestID: requestID, version: version, payload: payload))
        }
    }

    private func reject(_ error: ProtocolError) {
        context.stats.framesRejected.add(1, ordering: .relaxed)
        context.stats.countError(error.code)
        logger.info("rejected a frame: \(error)")
        send(ErrorMessage(error).frame(requestID: error.requestID, version: version))
        if error.code.closesConnection {
            closing = true
            pauseReading()
            if writePending() { shutdownNow() }
        }
    }

    // MARK: writing

    private func send(_ frame: Frame) {
        guard !closed else { return }
        frame.encode(into: &output)
        if !writePending() {
            if output.count - outputOffset > Self.outputHighWater { pauseReading() }
        }
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
        } else if readingPaused && !context.isStopping {
            resumeReading()
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

    private func pauseReading() {
        guard !readingPaused, !closed else { return }
        readingPaused = true
        readSource.suspend()
    }

    private func resumeReading() {
        guard readingPaused, !closed else { return }
        readingPaused = false
        readSource.resume()
        processRequests()
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

/// `struct ucred` from `<sys/socket.h>`, which Glibc's module map hides without `_GNU_SOURCE`.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
