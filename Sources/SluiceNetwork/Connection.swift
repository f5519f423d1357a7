import CEpoll
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// One client socket's I/O on an `EventLoop`: reads into the loop's buffer, buffers replies,
/// pauses reading on request or while too many replies are unsent.
///
/// The connection owns its descriptor: it leaves the epoll set, then is closed, exactly once.
/// It costs a few hundred bytes until it has something to send.
///
/// `@unchecked Sendable`: every mutable property is touched only on the loop's thread.
public final class Connection: @unchecked Sendable, Pollable {
    public let loop: EventLoop
    public let descriptor: Int32
    /// Receives the bytes and events; released when the connection closes.
    public var handler: (any ConnectionHandler)?
    /// Monotonic ms after which `connectionDeadlinePassed` is called (on the loop's tick).
    public var deadline: Int64 = .max
    /// Whether the handler wants more bytes; false pauses reading.
    public var wantsToRead = true {
        didSet { if wantsToRead != oldValue { updateInterest() } }
    }
    public private(set) var isClosed = false

    private var token: UInt64 = 0
    private var armed: UInt32 = 0
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var closeWhenFlushed = false
    private var readingPaused = false

    /// Above this many unsent bytes the connection stops reading until the client catches up,
    /// so a client that never reads its replies cannot grow the gateway's memory.
    public static let outputHighWater = 1 << 20

    /// Takes ownership of the non-blocking `descriptor`; `start` must follow on the loop's thread.
    public init(descriptor: Int32, loop: EventLoop) {
        self.descriptor = descriptor
        self.loop = loop
    }

    /// Registers with the loop; call on the loop's thread.
    public func start() {
        let events = isReading ? CEPOLL_IN : 0
        guard let token = loop.register(descriptor, events: events, for: self) else {
            isClosed = true
            Glibc.close(descriptor)
            handler?.connectionClosed(self)
            handler = nil
            return
        }
        self.token = token
        armed = events
        readingPaused = events == 0
        loop.watchDeadline(of: self, token: token)
    }

    /// Unsent reply bytes.
    public var pendingOutput: Int { output.count - outputOffset }

    /// Queues `write`'s bytes and sends as much as the socket takes now.
    public func send(_ write: (inout [UInt8]) -> Void) {
        guard !isClosed, !closeWhenFlushed else { return }
        write(&output)
        flush()
        updateInterest()
    }

    /// Stops reading; closes once every queued byte is sent (or the peer is gone).
    public func closeAfterFlush() {
        guard !isClosed else { return }
        closeWhenFlushed = true
        if pendingOutput == 0 { close() } else { updateInterest() }
    }

    /// Closes now, dropping unsent bytes.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if token != 0 { loop.deregister(descriptor, token: token) }
        Glibc.close(descriptor)
        output = []
        let handler = self.handler
        self.handler = nil
        handler?.connectionClosed(self)
    }

    func deadlinePassed() {
        handler?.connectionDeadlinePassed(self)
    }

    func ready(events: UInt32) {
        armed = 0
        guard !isClosed else { return }
        if events & CEPOLL_ERR != 0 {
            close()
            return
        }
        if events & CEPOLL_OUT != 0 || (events & CEPOLL_HUP != 0 && pendingOutput > 0) {
            flush()
        }
        if !isClosed && events & (CEPOLL_IN | CEPOLL_HUP) != 0 && isReading {
            readAvailable()
        }
        updateInterest()
    }

    private var isReading: Bool {
        wantsToRead && !closeWhenFlushed && pendingOutput <= Self.outputHighWater
    }

    /// Reads a few buffers' worth, then yields to the other connections of the loop.
    private func readAvailable() {
        let buffer = loop.readBuffer
        for _ in 0..<4 {
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            if count > 0 {
                handler?.connection(self, received: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                if isClosed || !isReading || count < buffer.count { return }
            } else if count == 0 {
                close()
                return
            } else if errno == EINTR {
                continue
            } else {
                if errno != EAGAIN && errno != EWOULDBLOCK { close() }
                return
            }
        }
    }

    /// Writes buffered output as far as the socket takes it.
    private func flush() {
        while outputOffset < output.count {
            let written = output.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + outputOffset, $0.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                outputOffset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                close()
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 4_096)
        outputOffset = 0
        if closeWhenFlushed { close() }
    }

    /// Arms the one-shot registration for what the connection waits for now.
    ///
    /// Interest that is no longer wanted is left armed: when it fires, `ready` ignores it and
    /// leaves the registration disarmed, so a paused connection is never woken in a loop.
    private func updateInterest() {
        guard !isClosed, token != 0 else { return }
        let reading = isReading
        var wanted: UInt32 = reading ? CEPOLL_IN : 0
        if pendingOutput > 0 { wanted |= CEPOLL_OUT }
        if wanted & ~armed != 0 {
            armed |= wanted
            if !loop.rearm(descriptor, token: token, events: armed) {
                close()
                return
            }
        }
        if readingPaused && reading {
            readingPaused = false
            // Requests already buffered are not signalled again by epoll.
            loop.async { [self] in
                if !isClosed { handler?.connectionResumed(self) }
            }
        } else if !reading {
            readingPaused = true
        }
    }
}
