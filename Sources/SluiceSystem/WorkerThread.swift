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
            Thread.current.name = name
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
}

/// The queue a worker's thread serves; shared by the `WorkerThread` and its thread.
private final class WorkerState: @unchecked Sendable {
    // `@unchecked Sendable`: `tasks` is behind its lock; `thread` is written once before
    // `started` is signalled, and read after.
    private let tasks = Mutex<(work: [@Sendable () -> Void], finishing: Bool)>(([], false))
    private let available = DispatchSemaphore(value: 0)
    let started = DispatchSemaphore(value: 0)
    private var thread: pthread_t?

    var isCurrent: Bool { thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    func add(_ work: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.work.append(work) }
        available.signal()
    }

    func finish() {
        tasks.withLock { $0.finishing = true }
        available.signal()
    }

    func run() {
        thread = pthread_self()
        started.signal()
        while true {
            available.wait()
            let (batch, finishing) = tasks.withLock { tasks in
                defer { tasks.work = [] }
                return (tasks.work, tasks.finishing)
            }
            for work in batch { work() }
            if finishing { return }
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
