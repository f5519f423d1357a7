import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A named thread that runs the work handed to it, one item at a time, in order.
///
/// A serial `DispatchQueue` runs on whichever pool thread libdispatch picks, all of them
/// called after the pool; a worker thread is one thread with the name given here, so
/// `/proc/PID/task/*/comm` tells what each thread does (docs/ARCHITECTURE.md). The thread
/// ends once the worker is released and the work queued so far has run.
public final class WorkerThread: Sendable {
    /// The thread's name (at most 15 bytes are kept by Linux).
    public let name: String
    private let state: WorkerState

    public init(name: String) {
        self.name = name
        let state = WorkerState()
        self.state = state
        let thread = Thread {
            nameCurrentThread(name)
            state.run()
        }
        thread.stackSize = 512 * 1024
        thread.start()
        state.started.wait()
    }

    deinit { state.finish() }

    /// Whether the caller runs on this worker's thread.
    public var isCurrent: Bool { state.isCurrent }

    /// Runs `work` on the thread, after the work handed to it before.
    public func async(_ work: @escaping @Sendable () -> Void) {
        state.add(work)
    }

    /// Runs `body` on the thread and waits for it; runs it at once when already there.
    public func sync<T>(_ body: () throws -> T) rethrows -> T {
        if isCurrent { return try body() }
        return try runAndWait(submit: state.add, body)
    }

    /// Runs `work` on the thread every `milliseconds`, the first time after `delay`
    /// milliseconds, until the returned timer is cancelled or the worker released.
    @discardableResult
    public func every(
        milliseconds: Int64, after delay: Int64? = nil, _ work: @escaping @Sendable () -> Void
    ) -> RepeatingTimer {
        let timer = RepeatingTimer(
            period: max(milliseconds, 1), due: monotonicMilliseconds() + (delay ?? milliseconds), work: work)
        state.add(timer)
        return timer
    }
}

/// Work a `WorkerThread` runs periodically; `cancel()` stops it.
public final class RepeatingTimer: Sendable {
    let period: Int64
    let work: @Sendable () -> Void
    /// When it runs next (monotonic ms); touched on the worker's thread only.
    nonisolated(unsafe) var due: Int64
    private let cancelled = Atomic<Bool>(false)

    init(period: Int64, due: Int64, work: @escaping @Sendable () -> Void) {
        self.period = period
        self.due = due
        self.work = work
    }

    /// Stops the timer; a run under way finishes.
    public func cancel() { cancelled.store(true, ordering: .releasing) }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
}

/// The queue a worker's thread serves; shared by the `WorkerThread` and its thread.
private final class WorkerState: @unchecked Sendable {
    // `@unchecked Sendable`: `tasks` is behind its lock; `thread` is written once before
    // `started` is signalled, and read after.
    /// `waiting`: the thread found nothing to do and waits on `available`, so new work must
    /// signal it; work added while it is busy is found on its next turn without a signal.
    private let tasks = Mutex<
        (work: [@Sendable () -> Void], timers: [RepeatingTimer], finishing: Bool, waiting: Bool)
    >(([], [], false, false))
    private let available = DispatchSemaphore(value: 0)
    let started = DispatchSemaphore(value: 0)
    private var thread: pthread_t?

    var isCurrent: Bool { thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    func add(_ work: @escaping @Sendable () -> Void) {
        wakeIfWaiting { $0.work.append(work) }
    }

    func add(_ timer: RepeatingTimer) {
        wakeIfWaiting { $0.timers.append(timer) }
    }

    func finish() {
        wakeIfWaiting { $0.finishing = true }
    }

    private func wakeIfWaiting(
        _ change: (inout (work: [@Sendable () -> Void], timers: [RepeatingTimer], finishing: Bool, waiting: Bool))
            -> Void
    ) {
        let wake = tasks.withLock { tasks in
            change(&tasks)
            defer { tasks.waiting = false }
            return tasks.waiting
        }
        if wake { available.signal() }
    }

    func run() {
        thread = pthread_self()
        started.signal()
        var timers: [RepeatingTimer] = []
        while true {
            let (batch, added, finishing) = tasks.withLock { tasks in
                defer {
                    tasks.work = []
                    tasks.timers = []
                }
                tasks.waiting = tasks.work.isEmpty && tasks.timers.isEmpty && !tasks.finishing
                return (tasks.work, tasks.timers, tasks.finishing)
            }
            for work in batch { work() }
            if finishing { return }
            if !added.isEmpty { timers += added }
            timers.removeAll { $0.isCancelled }
            let now = monotonicMilliseconds()
            for timer in timers where timer.due <= now {
                timer.work()
                // A run that came late does not make the next ones come early.
                timer.due = max(timer.due + timer.period, now + timer.period / 2)
            }
            // Work or timers just taken: look again before waiting (work may have come meanwhile).
            if !batch.isEmpty || !added.isEmpty { continue }
            if let next = timers.lazy.map(\.due).min() {
                let wait = max(0, next - monotonicMilliseconds())
                _ = available.wait(timeout: .now() + .milliseconds(Int(clamping: wait)))
            } else {
                available.wait()
            }
        }
    }
}

/// Hands `body` to another thread through `submit` and waits for its result.
///
/// `body` need not escape: the submitted work lets go of it before the caller resumes.
public func runAndWait<T>(submit: (@escaping @Sendable () -> Void) -> Void, _ body: () throws -> T) rethrows -> T {
    try withoutActuallyEscaping(body) { body in
        let call = PendingCall(body)
        submit {
            call.result = Result { try call.body!() }
            call.body = nil
            call.done.signal()
        }
        call.done.wait()
        return try call.result!.get()
    }
}

/// One `runAndWait` call: the body to run elsewhere, and its result.
private final class PendingCall<T>: @unchecked Sendable {
    // `@unchecked Sendable`: written by the running thread before `done` is signalled, read after.
    var body: (() throws -> T)?
    var result: Result<T, any Error>?
    let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping () throws -> T) { self.body = body }
}
