import Foundation
import SluiceSystem
import Synchronization
import Testing

/// The calling thread's name, as the kernel has it.
private func currentThreadName() -> String {
    (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""
}

/// The names of this process's threads, as the kernel lists them.
private func threadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap {
        (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .newlines)
    }
}

@Suite("WorkerThread")
struct WorkerThreadTests {
    @Test func runsWorkInOrderOnOneNamedThread() throws {
        let worker = WorkerThread(name: "sluice-test-w")
        let seen = Mutex<[Int]>([])
        let names = Mutex<Set<String>>([])
        for index in 0..<1_000 {
            worker.async {
                seen.withLock { $0.append(index) }
                _ = names.withLock { $0.insert(currentThreadName()) }
            }
        }
        worker.sync {}
        #expect(seen.withLock { $0 } == Array(0..<1_000))
        #expect(names.withLock { $0 } == ["sluice-test-w"])
        #expect(threadNames().filter { $0 == "sluice-test-w" }.count == 1, "the kernel knows the thread by its name")
    }

    @Test func syncReturnsAndRethrowsAndRunsInlineOnItsOwnThread() throws {
        struct Refused: Error {}
        let worker = WorkerThread(name: "sluice-test-s")
        #expect(worker.sync { 42 } == 42)
        #expect(throws: Refused.self) { try worker.sync { throw Refused() } }
        #expect(!worker.isCurrent)
        let nested = worker.sync { worker.isCurrent && worker.sync { 7 } == 7 }
        #expect(nested, "a sync from the worker's own thread runs at once instead of deadlocking")
    }

    @Test func theThreadEndsOnceReleasedAfterItsQueuedWork() throws {
        let ran = Atomic<Int>(0)
        do {
            let worker = WorkerThread(name: "sluice-test-e")
            #expect(threadNames().contains("sluice-test-e"))
            for _ in 0..<100 { worker.async { ran.add(1, ordering: .relaxed) } }
        }
        let deadline = Date().addingTimeInterval(5)
        while threadNames().contains("sluice-test-e") && Date() < deadline { usleep(1_000) }
        #expect(!threadNames().contains("sluice-test-e"), "the thread ended")
        #expect(ran.load(ordering: .relaxed) == 100, "work queued before the release still ran")
    }
}

@Suite("WorkerThread timers")
struct WorkerThreadTimerTests {
    @Test func aTimerRepeatsOnTheWorkerUntilCancelled() throws {
        let worker = WorkerThread(name: "sluice-test-t")
        let runs = Mutex<[String]>([])
        let timer = worker.every(milliseconds: 20, after: 0) {
            runs.withLock { $0.append(currentThreadName()) }
        }
        let deadline = Date().addingTimeInterval(10)
        while runs.withLock({ $0.count }) < 3 && Date() < deadline { usleep(1_000) }
        #expect(runs.withLock { $0.count } >= 3, "it ran again and again")
        #expect(Set(runs.withLock { $0 }) == ["sluice-test-t"])
        timer.cancel()
        worker.sync {}  // a run under way has finished, and the worker has seen the cancel
        let after = runs.withLock { $0.count }
        usleep(100_000)  // five periods: nothing to await, since what is checked is that nothing happens
        #expect(runs.withLock { $0.count } == after, "a cancelled timer runs no more")
    }
}
