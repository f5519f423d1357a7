import CEpoll
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One epoll set and the serial queue that runs all work for the descriptors in it.
///
/// A reactor thread blocks in `epoll_wait` and hands ready events to `queue`; it never runs
/// connection code itself. Registrations are one-shot and keyed by a token that is never
/// reused, so a late event for a closed descriptor (even one whose number was reused) finds
/// no registration and is dropped. Descriptors leave the epoll set before they are closed.
///
/// `@unchecked Sendable`: the mutable state is touched only on `queue`, except `running`
/// (atomic) and the descriptors, which are fixed at init.
public final class EventLoop: @unchecked Sendable {
    /// The queue that runs every callback of this loop's connections.
    public let queue: DispatchQueue
    private let epoll: Int32
    private let wake: Int32
    private let running = Atomic<Bool>(true)
    private var registrations: [UInt64: any Pollable] = [:]
    private var nextToken: UInt64 = 1
    private var timed: [UInt64: Connection] = [:]
    private var ticker: DispatchSourceTimer?
    /// Work for the next tick: deferred without a new Dispatch timer, which libdispatch cannot
    /// create (and crashes) while the process is out of descriptors.
    private var onNextTick: [() -> Void] = []
    private let stopped = DispatchSemaphore(value: 0)
    /// The buffer every connection of this loop reads into; its bytes are consumed at once.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)

    /// How often deadlines (handshake, idle) are checked, in milliseconds.
    public static let tickMilliseconds = 100

    private static let identity = DispatchSpecificKey<ObjectIdentifier>()

    init(index: Int) throws(NetworkError) {
        queue = DispatchQueue(label: "sluice.loop.\(index)")
        epoll = cepoll_create()
        wake = cepoll_eventfd()
        guard epoll >= 0, wake >= 0 else {
            throw NetworkError("cannot create an epoll set: \(String(cString: strerror(errno)))")
        }
        _ = cepoll_ctl(epoll, CEPOLL_ADD, wake, CEPOLL_IN, 0)
        queue.setSpecific(key: Self.identity, value: ObjectIdentifier(self))
        let thread = Thread { [self] in runReactor() }
        thread.name = "sluice-reactor-\(index)"
        thread.stackSize = 256 * 1024
        thread.start()
        let ticker = DispatchSource.makeTimerSource(queue: queue)
        ticker.schedule(
            deadline: .now() + .milliseconds(Self.tickMilliseconds), repeating: .milliseconds(Self.tickMilliseconds))
        ticker.setEventHandler { [unowned self] in checkDeadlines() }
        ticker.activate()
        self.ticker = ticker
    }

    /// Waits for readiness and hands each batch of events to `queue`.
    private func runReactor() {
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while running.load(ordering: .acquiring) {
            let count = cepoll_wait(epoll, &tokens, &events, 64, -1)
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            var ready: [(UInt64, UInt32)] = []
            ready.reserveCapacity(Int(count))
            for index in 0..<Int(count) where tokens[index] != 0 {
                ready.append((tokens[index], events[index]))
            }
            if !ready.isEmpty {
                queue.async { [self, ready] in
                    for (token, bits) in ready { registrations[token]?.ready(events: bits) }
                }
            }
        }
        stopped.signal()
    }

    /// Runs `body` on the queue and waits for it; runs it at once when already there, so a
    /// caller that happens to be on this loop (a last release in a callback) cannot deadlock.
    public func sync<T>(_ body: () throws -> T) rethrows -> T {
        if DispatchQueue.getSpecific(key: Self.identity) == ObjectIdentifier(self) { return try body() }
        return try queue.sync(execute: body)
    }

    // MARK: on the queue

    /// Adds `descriptor` to the epoll set, armed for `events`; returns its token.
    func register(_ descriptor: Int32, events: UInt32, for pollable: any Pollable) -> UInt64? {
        dispatchPrecondition(condition: .onQueue(queue))
        let token = nextToken
        nextToken += 1
        guard cepoll_ctl(epoll, CEPOLL_ADD, descriptor, events, token) == 0 else { return nil }
        registrations[token] = pollable
        return token
    }

    /// Re-arms a one-shot registration for `events`.
    func rearm(_ descriptor: Int32, token: UInt64, events: UInt32) -> Bool {
        cepoll_ctl(epoll, CEPOLL_MOD, descriptor, events, token) == 0
    }

    /// Removes `descriptor` from the epoll set; call before closing it.
    func deregister(_ descriptor: Int32, token: UInt64) {
        dispatchPrecondition(condition: .onQueue(queue))
        _ = cepoll_ctl(epoll, CEPOLL_DEL, descriptor, 0, token)
        registrations[token] = nil
        timed[token] = nil
    }

    /// Has `connection`'s deadline checked on every tick until it deregisters.
    func watchDeadline(of connection: Connection, token: UInt64) {
        timed[token] = connection
    }

    /// The connections this loop serves.
    var connections: [Connection] { Array(timed.values) }

    /// Runs `work` on the queue at the next tick, within `tickMilliseconds`.
    func atNextTick(_ work: @escaping () -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        onNextTick.append(work)
    }

    private func checkDeadlines() {
        if !onNextTick.isEmpty {
            let due = onNextTick
            onNextTick = []
            for work in due { work() }
        }
        let now = monotonicMilliseconds()
        for connection in timed.values where connection.deadline <= now {
            connection.deadlinePassed()
        }
    }

    /// Stops the reactor thread; the loop must have no registrations left.
    func shutdown() {
        sync {
            ticker?.cancel()
            ticker = nil
        }
        running.store(false, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
        stopped.wait()
        close(epoll)
        close(wake)
    }

    deinit { readBuffer.deallocate() }
}

/// Milliseconds since boot, monotonic.
func monotonicMilliseconds() -> Int64 {
    Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
}
