import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The listening Unix socket: takes over stale socket files, never live ones.
final class Listener: @unchecked Sendable {
    // `@unchecked Sendable`: `source` is set once in `start` and then only cancelled.
    let path: String
    private let descriptor: Int32
    private var source: DispatchSourceRead?
    private let queue = DispatchQueue(label: "sluice.listener")

    /// Binds `path` with `mode`, replacing a socket file no process listens on.
    init(path: String, mode: UInt32, group: String?, logger: Logger) throws(ConfigurationError) {
        self.path = path
        try Self.removeStaleSocket(at: path, logger: logger)
        descriptor = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ConfigurationError("socket(): \(String(cString: strerror(errno)))") }
        var address = Self.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw ConfigurationError("cannot bind \(path): \(reason)")
        }
        if let group {
            guard let gid = Self.groupID(group), chown(path, uid_t.max, gid) == 0 else {
                Glibc.close(descriptor)
                unlink(path)
                throw ConfigurationError("cannot give \(path) to group \(group): no such group, or not allowed")
            }
        }
        guard chmod(path, mode_t(mode)) == 0, listen(descriptor, 512) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            unlink(path)
            throw ConfigurationError("cannot listen on \(path): \(reason)")
        }
    }

    /// Calls `accepted` with each new connection's non-blocking descriptor.
    func start(accepted: @escaping @Sendable (Int32) -> Void) {
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler { [descriptor] in
            while true {
                let client = Glibc.accept(descriptor, nil, nil)
                if client < 0 { return }
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                accepted(client)
            }
        }
        source.setCancelHandler { [descriptor] in Glibc.close(descriptor) }
        self.source = source
        source.activate()
    }

    /// Stops accepting and removes the socket file.
    func stop() {
        queue.sync {
            source?.cancel()
            source = nil
        }
        unlink(path)
    }

    private static func groupID(_ group: String) -> gid_t? {
        if let number = gid_t(group) { return number }
        return getgrnam(group)?.pointee.gr_gid
    }

    private static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8.prefix(buffer.count - 1))
        }
        return address
    }

    private static func removeStaleSocket(at path: String, logger: Logger) throws(ConfigurationError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw ConfigurationError("\(path) exists and is not a socket; not replacing it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { Glibc.close(probe) }
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 {
            throw ConfigurationError("another process is serving \(path); not taking it over")
        }
        logger.notice("removing stale socket \(path) left by a process that is gone")
        unlink(path)
    }
}
