import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide resources the network layer depends on: file descriptors.
public enum ProcessLimits {
    /// Descriptors kept for everything but clients: the listener, epoll, librdkafka, the spool.
    public static let reservedDescriptors = 128

    /// Raises the soft `RLIMIT_NOFILE` to fit `connections` plus `reservedDescriptors`.
    ///
    /// Throws with the reason when the hard limit is too low and cannot be raised.
    public static func raiseDescriptorLimit(toFit connections: Int) throws(NetworkError) {
        let needed = rlim_t(connections + reservedDescriptors)
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else {
            throw NetworkError("getrlimit(RLIMIT_NOFILE): \(errnoText())")
        }
        guard limit.rlim_cur < needed else { return }
        var raised = limit
        raised.rlim_cur = needed
        if raised.rlim_max < needed { raised.rlim_max = needed }
        if setrlimit(RLIMIT_NOFILE_VALUE, &raised) != 0 {
            throw NetworkError(
                "limits.max-connections \(connections) needs \(needed) file descriptors, but the limit is "
                    + "\(limit.rlim_cur) (hard \(limit.rlim_max)) and cannot be raised: raise it "
                    + "(ulimit -n, systemd LimitNOFILE=) or lower limits.max-connections")
        }
    }

    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
