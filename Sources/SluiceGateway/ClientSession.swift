import Dispatch
import Logging
import SluiceNetwork
import SluiceProtocol
import SluiceSystem

/// One client's protocol session on a `Connection`: decodes frames, hands publishes to the
/// router, sends replies.
///
/// It stops reading (backpressure, never unbounded buffering) while a publish is being
/// routed, while its unacknowledged `PUBLISH` bytes pass `maxUnackedBytes`, or (in
/// `Connection`) while its unsent replies pass `Connection.outputHighWater`. Routing can
/// block while librdkafka's queue is full, so it runs on a publish lane, never on the loop.
///
/// Its state is a `Phase` (serving → stopped → finishing → closing, or straight to closing on
/// an error that ends the connection) and, orthogonal to it, whether a request is off the loop.
///
/// `@unchecked Sendable`: every mutable property is touched only on the loop's queue, except
/// `eventIDs`, which the publish lane uses while `requestOffLoop` keeps the loop off it.
final class ClientSession: @unchecked Sendable, ConnectionHandler {
    /// Where the session is in its life; it only moves forward.
    enum Phase: Equatable {
        /// Reading and answering requests.
        case serving
        /// The gateway is stopping (`stopReading`): no new requests are read; replies still go out.
        case stopped
        /// `finish` was called: `SHUTTING_DOWN` goes out once every batch is settled, then it closes.
        case finishing
        /// Closing once queued replies are sent; `owesShutdownNotice` if `finish` came first and batches are unsettled.
        case closing(owesShutdownNotice: Bool)

        var isClosing: Bool {
            if case .closing = self { return true }
            return false
        }
    }

    let id: UInt64
    let connection: Connection
    private let lane: WorkerThread
    private let context: GatewayContext
    private let onClose: @Sendable (UInt64) -> Void
    /// Who is on the other end; a reload may change the topics it may publish to.
    private var peer: Peer
    private let publisher: StampedHeaders.Publisher
    /// The limits announced to this connection in `HELLO_OK`; a reload does not change them.
    private let limits: Limits
    /// The `ERROR` that ends the connection once every batch is settled (`finish`, `revoke`).
    private var farewell = ProtocolError(
        .shuttingDown, "the gateway is stopping; reconnect and resend what is not acked")
    private var session: ServerSession
    private var eventIDs = EventIDGenerator()
    private var phase = Phase.serving
    /// A request is being handled off the loop (on the publish lane, or a STATS snapshot): no
    /// other request is read meanwhile, whatever the phase.
    private var requestOffLoop = false
    /// Payload bytes of `PUBLISH` frames not yet settled.
    private var unackedBytes = 0
    private var outstandingBatches = 0
    /// The version that replies carry once negotiated.
    private var version: UInt8 = 1
    /// Who is on the other end: peer credentials, then the name from HELLO.
    private var identity: String

    init(
        id: UInt64, connection: Connection, lane: WorkerThread, peer: Peer, limits: Limits, context: GatewayContext,
        onClose: @escaping @Sendable (UInt64) -> Void
    ) {
        self.id = id
        self.connection = connection
        self.lane = lane
        self.limits = limits
        self.session = ServerSession(limits: limits)
        self.context = context
        self.onClose = onClose
        self.peer = peer
        self.publisher = peer.publisher
        identity = peer.identity
    }

    private var loop: EventLoop { connection.loop }

    private var logger: Logger {
        var logger = context.logger
        logger[metadataKey: "connection"] = "\(id)"
        logger[metadataKey: "peer"] = "\(identity)"
        return logger
    }

    /// Registers the connection and starts the handshake deadline; call on the loop's queue.
    func start() {
        connection.handler = self
        let timeout = Int64(limits.handshakeTimeoutMilliseconds)
        connection.deadline = timeout > 0 ? monotonicMilliseconds() + timeout : .max
        updateReading()
        connection.start()
    }

    /// Stops taking new requests (gateway shutdown); replies still go out.
    func stopReading() {
        connection.loop.sync {
            if phase == .serving { phase = .stopped }
            updateReading()
        }
    }

    /// Sends `SHUTTING_DOWN` once every batch read so far is settled, then closes.
    func finish() {
        loop.async { [self] in
            switch phase {
            case .serving, .stopped: phase = .finishing
            case .closing: phase = .closing(owesShutdownNotice: true)
            case .finishing: break
            }
            updateReading()
            finishIfSettled()
        }
    }

    /// Applies a reloaded access list: new topic prefixes apply from the next `PUBLISH`; a peer
    /// no longer admitted is read no more, its batches settle, and it gets `NOT_PERMITTED`.
    func apply(_ access: AccessConfiguration) {
        loop.async { [self] in
            guard !phase.isClosing else { return }
            peer.topicPrefixes = access.topicPrefixes(uid: peer.uid, gid: peer.gid)
            guard !access.admits(uid: peer.uid, gid: peer.gid), phase == .serving || phase == .stopped else { return }
            logger.warning("\(peer.identity) is no longer on the allow-list: closing once its batches are settled")
            farewell = ProtocolError(.notPermitted, "uid \(peer.uid) / gid \(peer.gid) may no longer connect")
            phase = .finishing
            updateReading()
            finishIfSettled()
        }
    }

    /// Closes now, sending what the socket takes at once.
    func forceClose() {
        connection.loop.sync {
            // Unless it went out already (finishIfSettled) or the connection ends on an error of its own.
            if !connection.isClosed && phase != .closing(owesShutdownNotice: false) { sendFarewell() }
            connection.close()
        }
    }

    // MARK: ConnectionHandler

    func connection(_ connection: Connection, received bytes: UnsafeRawBufferPointer) {
        if session.version != nil { extendIdleDeadline() }
        session.feed(bytes)
        processRequests()
    }

    func connectionResumed(_ connection: Connection) {
        processRequests()
    }

    func connectionDeadlinePassed(_ connection: Connection) {
        guard !phase.isClosing else { return }
        if session.version == nil {
            reject(ProtocolError(.timedOut, "no HELLO within \(limits.handshakeTimeoutMilliseconds) ms"))
        } else if outstandingBatches > 0 || requestOffLoop {
            extendIdleDeadline()
        } else {
            reject(ProtocolError(.timedOut, "idle for \(limits.idleTimeoutMilliseconds) ms"))
        }
    }

    func connectionClosed(_ connection: Connection) {
        onClose(id)
    }

    // MARK: requests

    private func extendIdleDeadline() {
        let timeout = Int64(limits.idleTimeoutMilliseconds)
        connection.deadline = timeout > 0 ? monotonicMilliseconds() + timeout : .max
    }

    private var mayProcess: Bool {
        phase == .serving && !requestOffLoop && !connection.isClosed
            && unackedBytes <= Int(limits.maxUnackedBytes)
            && connection.pendingOutput <= Connection.outputHighWater
    }

    private func processRequests() {
        while mayProcess {
            let request: ServerSession.Request?
            do {
                request = try session.next()
            } catch {
                // A rejected frame was received all the same (PROTOCOL.md section 3.5).
                context.stats.framesReceived.add(1, ordering: .relaxed)
                context.stats.framesRejected.add(1, ordering: .relaxed)
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
            extendIdleDeadline()
            logger.debug("HELLO from \(hello.clientName), version \(chosen)")
            send(
                HelloOK(version: chosen, limits: limits, serverName: "sluice/\(sluiceVersion)")
                    .frame(requestID: requestID))
        case .publish(var batch, let requestID):
            let topics = BatchTopics(batch)
            if peer.topicPrefixes != nil { applyTopicPolicy(&batch, topics) }
            context.checkContracts(&batch, topics, logger: logger)
            publish(batch, topics, requestID: requestID)
        case .stats(let requestID):
            offLoop(on: context.statsThread) { [self] in
                let json = context.statsJSON()
                loop.async { [self] in send(Frame(.statsReply, requestID: requestID, version: version, payload: json)) }
            }
        case .ping(let payload, let requestID):
            send(Frame(.pong, requestID: requestID, version: version, payload: payload))
        }
    }

    /// Routes `batch` on the publish lane; reading pauses until the router has taken it.
    private func publish(_ batch: PublishBatch, _ topics: BatchTopics, requestID: UInt32) {
        let size = batch.payload.count
        unackedBytes += size
        outstandingBatches += 1
        offLoop(on: lane) { [self] in
            context.router.publish(
                batch, topics: topics, requestID: requestID, client: identity, publisher: publisher,
                eventIDs: &eventIDs,
                onAck: { [self] requestID, ack in
                    loop.async { [self] in send(ack.frame(requestID: requestID, version: version)) }
                },
                onSettled: { [self] in
                    loop.async { [self] in
                        unackedBytes -= size
                        outstandingBatches -= 1
                        updateReading()
                        finishIfSettled()
                        processRequests()
                    }
                })
        }
    }

    /// Runs `work` on `thread`; no other request is processed until it is done.
    private func offLoop(on thread: WorkerThread, _ work: @escaping @Sendable () -> Void) {
        requestOffLoop = true
        updateReading()
        thread.async { [self] in
            work()
            loop.async { [self] in
                requestOffLoop = false
                updateReading()
                processRequests()
            }
        }
    }

    /// Marks records whose topic this peer may not publish to.
    private func applyTopicPolicy(_ batch: inout PublishBatch, _ topics: BatchTopics) {
        let allowed = topics.names.map(peer.mayPublish)
        for index in batch.records.indices where batch.records[index].error == nil {
            if !allowed[Int(topics.ofRecord[index])] { batch.records[index].error = .topicNotAllowed }
        }
    }

    /// Sends `error` in an `ERROR` frame, and closes when it says so.
    private func reject(_ error: ProtocolError) {
        context.stats.countError(error.code)
        logger.info("rejected a frame: \(error)")
        send(ErrorMessage(error).frame(requestID: error.requestID, version: version))
        if error.closesConnection {
            switch phase {
            case .serving, .stopped: phase = .closing(owesShutdownNotice: false)
            case .finishing: phase = .closing(owesShutdownNotice: true)
            case .closing: break
            }
            updateReading()
            connection.closeAfterFlush()
        }
    }

    private func finishIfSettled() {
        guard phase == .finishing || phase == .closing(owesShutdownNotice: true) else { return }
        guard outstandingBatches == 0, !requestOffLoop, !connection.isClosed else { return }
        sendFarewell()
        phase = .closing(owesShutdownNotice: false)
        connection.closeAfterFlush()
    }

    private func sendFarewell() {
        context.stats.countError(farewell.code)
        send(ErrorMessage(farewell).frame(requestID: 0, version: version))
    }

    private func send(_ frame: Frame) {
        connection.send { frame.encode(into: &$0) }
    }

    /// Pauses or resumes reading from the socket as the session's limits require.
    private func updateReading() {
        connection.wantsToRead =
            phase == .serving && !requestOffLoop && unackedBytes <= Int(limits.maxUnackedBytes)
    }
}
