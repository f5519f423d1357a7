#if canImport(Glibc)
    import Glibc
#endif

/// Milliseconds since the Unix epoch (`CLOCK_REALTIME`), for timestamps that are stored or shown.
public func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
}

/// Milliseconds of the monotonic clock (`CLOCK_MONOTONIC`, the clock of `DispatchTime.now()`), for durations.
public func monotonicMilliseconds() -> Int64 {
    Int64(monotonicNanoseconds() / 1_000_000)
}

/// Nanoseconds of the monotonic clock (`CLOCK_MONOTONIC`, the clock of `DispatchTime.now()`), for durations.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
