import CEpoll
import Foundation
import SluiceSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One epoll set and the thread that serves it: the thread waits for readiness, runs the
/// ready descriptors' callbacks, the tasks handed to it (`async`) and the deadline tick.
///
/// Every callback of this loop's connections runs on that one thread (`sluice-loop-N`), so
/// their state needs no lock. Registrations are one-shot and keyed by a token that is
/// never reused, so a late event for a closed descriptor (even one whose number was reused)
/// finds no registration and is dropped. Descriptors leave the epoll set before they are
/// closed.
///
/// `@unchecked Sendable`: the mutable state is touched only on the loop's thread, except
/// `queue` (behind its lock) and `running` (atomic).
public final class EventLoop: @unchecked Sendable {
    /// The thread's name, as `/proc/PID/task/*/comm` shows it.
    public let name: String
    private let epoll: Int32
    private let wake: Int32
    private let running = Atomic<Bool>(true)
    /// Work handed to the loop from any thread, run in order on the loop's thread; once the
    /// thread has ended (`closed`), work runs on the caller instead. `sleeping`: the thread
    /// found no work and is (about to be) waiting in epoll, so new work must wake it.
    private let queue = Mutex<(tasks: [@Sendable () -> Void], closed: Bool, sleeping: Bool)>(([], false, false))
    private var registrations: [UInt64: any Pollable] = [:]
    private var nextToken: UInt64 = 1
    private var timed: [UInt64: Connection] = [:]
    /// Work for the next tick.
    private var onNextTick: [() -> Void] = []
    private var nextTickAt: Int64 = 0
    private var thread: pthread_t?
    private let started = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// The buffer every connection of this loop reads into; its bytes are consumed at once.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)

    /// How often deadlines (handshake, idle) are checked, in milliseconds.
    public static let tickMilliseconds = 100
    /// The token of the wake-up eventfd; descriptors' tokens start at 1.
    private static let wakeToken: UInt64 = 0

    init(index: Int) throws(NetworkError) {
        name = "sluice-loop-\(index)"
        epoll = cepoll_create()
        wake = cepoll_eventfd()
        guard epoll >= 0, wake >= 0 else {
            throw NetworkError("cannot create an epoll set: \(errnoText())")
        }
        _ = cepoll_ctl(epoll, CEPOLL_ADD, wake, CEPOLL_IN, Self.wakeToken)
        let thread = Thread { [self] in run() }
        thread.stackSize = 512 * 1024
        thread.start()
        started.wait()
    }

    /// Whether the caller runs on this loop's thread.
    public var inLoop: Bool {
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// Runs `work` on the loop's thread, after the work handed to it before.
    public func async(_ work: @escaping @Sendable () -> Void) {
        let (wake, closed) = queue.withLock { queue in
            if !queue.closed { queue.tasks.append(work) }
            defer { queue.sleeping = false }
            return (queue.sleeping, queue.closed)
        }
        // After shutdown nothing is left to race with: late replies of closed connections run here.
        if closed { return work() }
        // A busy loop finds the task before it next waits; only a sleeping one needs the eventfd.
        if wake { signalWake() }
    }

    /// Runs `body` on the loop's thread and waits for it; runs it at once when already there,
    /// so a caller that happens to be on this loop (a last release in a callback) cannot deadlock.
    public func sync<T>(_ body: () throws -> T) rethrows -> T {
        if inLoop { return try body() }
        return try runAndWait(submit: async, body)
    }

    /// The loop's thread: wait, serve ready descriptors, the tick, then the queued tasks.
    private func run() {
        nameCurrentThread(name)
        thread = pthread_self()
        nextTickAt = monotonicMilliseconds() + Int64(Self.tickMilliseconds)
        started.signal()
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while running.load(ordering: .acquiring) {
            let pending = queue.withLock { queue in
                queue.sleeping = queue.tasks.isEmpty
                return !queue.tasks.isEmpty
            }
            let untilTick = max(0, nextTickAt - monotonicMilliseconds())
            let count = cepoll_wait(epoll, &tokens, &events, 64, pending ? 0 : Int32(clamping: untilTick))
            if !pending { queue.withLock { $0.sleeping = false } }
            if count < 0 && errno != EINTR { break }
            for index in 0..<max(Int(count), 0) {
                if tokens[index] == Self.wakeToken {
                    drainWake()
                } else {
                    registrations[tokens[index]]?.ready(events: events[index])
                }
            }
            if monotonicMilliseconds() >= nextTickAt {
                nextTickAt = monotonicMilliseconds() + Int64(Self.tickMilliseconds)
                checkDeadlines()
            }
            // Only what was queued so far: work queued by this work waits for the next turn,
            // so a busy stream of tasks cannot starve the sockets.
            for work in takeTasks(closing: false) { work() }
        }
        // Tasks queued until the end still run: callers may wait on them (`sync`).
        for work in takeTasks(closing: true) { work() }
        stopped.signal()
    }

    private func takeTasks(closing: Bool) -> [@Sendable () -> Void] {
        queue.withLock { queue in
            defer {
                queue.tasks = []
                if closing { queue.closed = true }
            }
            return queue.tasks
        }
    }

    private func signalWake() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    /// Empties the eventfd and arms its one-shot registration again.
    private func drainWake() {
        var count: UInt64 = 0
        _ = read(wake, &count, 8)
        _ = cepoll_ctl(epoll, CEPOLL_MOD, wake, CEPOLL_IN, Self.wakeToken)
    }

    // MARK: on the loop's thread

    /// Adds `descriptor` to the epoll set, armed for `events`; returns its token.
    func register(_ descriptor: Int32, events: UInt32, for pollable: any Pollable) -> UInt64? {
        assert(inLoop)
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
        assert(inLoop)
        _ = cepoll_ctl(epoll, CEPOLL_DEL, descriptor, 0, token)
        registrations[token] = nil
        timed[token] = nil
    }

    /// Has `connection`'s deadline checked on every tick until it deregisters.
    func watchDeadline(of connection: Connection, token: UInt64) {
        timed[token] = connection
    }

    /// Runs `work` on the loop's thread at the next tick, within `tickMilliseconds`.
    func atNextTick(_ work: @escaping () -> Void) {
        assert(inLoop)
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

    /// Stops the loop's thread after the tasks queued so far; the loop must have no
    /// registrations left.
    func shutdown() {
        precondition(!inLoop, "a loop cannot stop itself")
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        signalWake()
        stopped.wait()
        close(epoll)
        close(wake)
    }

    deinit { readBuffer.deallocate() }
}
