import SluiceSystem
import Synchronization

/// Wall-clock milliseconds, injectable so tests can move time (backoff, breaker waits).
public protocol MillisecondClock: Sendable {
    func now() -> Int64
}

/// The system's real-time clock.
public struct SystemClock: MillisecondClock {
    public init() {}
    public func now() -> Int64 { wallClockMilliseconds() }
}

/// A clock that moves only when told to, for tests.
public final class ManualClock: MillisecondClock {
    private let current: Mutex<Int64>

    public init(_ start: Int64 = wallClockMilliseconds()) { current = Mutex(start) }
    public func now() -> Int64 { current.withLock { $0 } }
    public func advance(by milliseconds: Int64) { current.withLock { $0 += milliseconds } }
}
