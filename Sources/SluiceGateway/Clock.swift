import Dispatch
import Foundation
import Synchronization

/// Wall-clock milliseconds, injectable so tests can move time (backoff, breaker waits).
public protocol MillisecondClock: Sendable {
    func now() -> Int64
}

/// The system's real-time clock.
public struct SystemClock: MillisecondClock {
    public init() {}
    public func now() -> Int64 { currentTimeMilliseconds() }
}

/// A clock that moves only when told to, for tests.
public final class ManualClock: MillisecondClock {
    private let current: Mutex<Int64>

    public init(_ start: Int64 = currentTimeMilliseconds()) { current = Mutex(start) }
    public func now() -> Int64 { current.withLock { $0 } }
    public func advance(by milliseconds: Int64) { current.withLock { $0 += milliseconds } }
}

public func currentTimeMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Monotonic milliseconds since boot, for measuring durations.
func uptimeMilliseconds() -> Int64 {
    Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
}
