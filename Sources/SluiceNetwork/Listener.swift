import CEpoll
import Dispatch
import Foundation
import Logging
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The listening Unix socket, accepting on an `EventLoop`: takes over stale socket files,
/// never live ones.
///
/// Clients never take the process's last descriptors: libdispatch opens files of its own
/// (its worker-pool monitor reads `/proc`) and crashes when it cannot, and librdkafka and
/// SQLite need some too. A client whose descriptor leaves fewer than
/// `descriptorHeadroom` free under the soft limit is handed to `overLimit` (which answers
/// and closes it). Descriptors are allocated lowest first, so a new descriptor's number
/// tells how close the process is to its limit, whoever changed that limit.
///
/// When the process is out of descriptors all the same (EMFILE, ENFILE) it gives up a spare
/// descriptor to accept each waiting client and hand it to `overLimit`, then pauses
/// accepting until the loop's next tick (at most `EventLoop.tickMilliseconds`); it never
/// spins and no client waits forever.
///
/// `@unchecked Sendable`: the mutable state is touched only on the loop's thread.
public final class Listener: @unchecked Sendable, Pollable {
    public let path: String
    private let descriptor: Int32
    private let loop: EventLoop
    private let logger: Logger
    private var token: UInt64 = 0
    private var spare: Int32 = -1
    private var accepted: (@Sendable (Int32) -> Void)?
    private var overLimit: (@Sendable (Int32) -> Void)?
    private var stopped = false
    private var lastLimitWarning: Int64?

    /// Descriptors left free for everything but clients.
    public static let descriptorHeadroom = 4

    /// Binds `path` with `mode`, replacing a socket file no process listens on; creates a
    /// missing parent directory with mode 0750.
    public init(path: String, mode: UInt32, group: String?, loop: EventLoop, logger: Logger) throws(NetworkError) {
        self.path = path
        self.loop = loop
        self.logger = logger
        do {
            try makeParentDirectory(of: path, mode: 0o750)
        } catch {
            throw NetworkError("cannot create the socket directory \(error.path): \(error.reason)")
        }
        try Self.removeStaleSocket(at: path, logger: logger)
        descriptor = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw NetworkError("socket(): \(errnoText())") }
        guard UnixSocketAddress(path)?.withSockaddr({ bind(descriptor, $0, $1) }) == 0 else {
            let reason = errnoText()
            Glibc.close(descriptor)
            throw NetworkError("cannot bind \(path): \(reason)")
        }
        if let group {
            guard let gid = Self.groupID(group), chown(path, uid_t.max, gid) == 0 else {
                Glibc.close(descriptor)
                unlink(path)
                throw NetworkError("cannot give \(path) to group \(group): no such group, or not allowed")
            }
        }
        guard chmod(path, mode_t(mode)) == 0, listen(descriptor, 512) == 0 else {
            let reason = errnoText()
            Glibc.close(descriptor)
            unlink(path)
            throw NetworkError("cannot listen on \(path): \(reason)")
        }
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Calls `accepted` with each new connection's non-blocking descriptor, and `overLimit`
    /// with those accepted only by giving up the spare descriptor; both on the loop's thread.
    public func start(accepted: @escaping @Sendable (Int32) -> Void, overLimit: @escaping @Sendable (Int32) -> Void) {
        loop.async { [self] in
            guard !stopped else { return }
            self.accepted = accepted
            self.overLimit = overLimit
            guard let token = loop.register(descriptor, events: CEPOLL_IN, for: self) else {
                logger.critical("cannot watch \(path) for connections: \(errnoText())")
                return
            }
            self.token = token
        }
    }

    /// Stops accepting and removes the socket file.
    public func stop() {
        loop.sync {
            guard !stopped else { return }
            stopped = true
            if token != 0 { loop.deregister(descriptor, token: token) }
            Glibc.close(descriptor)
            if spare >= 0 { Glibc.close(spare) }
            accepted = nil
            overLimit = nil
        }
        unlink(path)
    }

    func ready(events: UInt32) {
        guard !stopped else { return }
        // At most a backlog's worth per wake-up, so the loop's connections are served too.
        for _ in 0..<512 {
            let client = cepoll_accept(descriptor)
            if client >= 0 {
                if Int(client) >= Self.softDescriptorLimit() - Self.descriptorHeadroom {
                    warnOutOfDescriptors()
                    overLimit?(client)
                } else {
                    accepted?(client)
                }
                continue
            }
            switch errno {
            case EINTR, ECONNABORTED:
                continue
            case EMFILE, ENFILE:
                refuseWaitingClients()
                pause()
                return
            default:
                break
            }
            break
        }
        rearm()
    }

    /// Accepts and refuses the clients in the backlog, one at a time through the spare descriptor.
    private func refuseWaitingClients() {
        warnOutOfDescriptors()
        while spare >= 0 {
            Glibc.close(spare)
            let client = cepoll_accept(descriptor)
            if client >= 0 { overLimit?(client) }
            spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard client >= 0 else { return }
        }
    }

    private func warnOutOfDescriptors() {
        let now = monotonicMilliseconds()
        if lastLimitWarning.map({ now - $0 > 10_000 }) ?? true {
            lastLimitWarning = now
            logger.warning("out of file descriptors: refusing new clients with TOO_MANY_CONNECTIONS")
        }
    }

    /// The soft `RLIMIT_NOFILE`, read each time: an operator may change it while we run.
    private static func softDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Int.max }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// Resumes accepting after the loop's next tick.
    private func pause() {
        loop.atNextTick { [self] in
            if !stopped {
                if spare < 0 { spare = open("/dev/null", O_RDONLY | O_CLOEXEC) }
                rearm()
            }
        }
    }

    private func rearm() {
        guard !stopped, token != 0 else { return }
        _ = loop.rearm(descriptor, token: token, events: CEPOLL_IN)
    }

    private static func groupID(_ group: String) -> gid_t? {
        if let number = gid_t(group) { return number }
        return getgrnam(group)?.pointee.gr_gid
    }

    private static func removeStaleSocket(at path: String, logger: Logger) throws(NetworkError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw NetworkError("\(path) exists and is not a socket; not replacing it")
        }
        let probe = connectUnixSocket(path)
        if probe >= 0 {
            Glibc.close(probe)
            throw NetworkError("another process is serving \(path); not taking it over")
        }
        logger.notice("removing stale socket \(path) left by a process that is gone")
        unlink(path)
    }
}
