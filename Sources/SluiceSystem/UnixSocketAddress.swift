#if canImport(Glibc)
    import Glibc
#endif

/// A Unix socket's address (`sockaddr_un`), as bind, connect and sendto take it.
public struct UnixSocketAddress: Sendable {
    private var address = sockaddr_un()
    private let length: socklen_t

    /// The address of `path`; nil when it does not fit (107 bytes at most). A leading `@`
    /// names a socket in the abstract namespace, as systemd's `NOTIFY_SOCKET` may.
    public init?(_ path: String) {
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // An abstract name's length is exact; a path counts its terminating zero.
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    }

    /// Calls `body` with the address as the `sockaddr` the socket calls take, and its length.
    public func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        try withUnsafePointer(to: address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}

/// A stream socket (close-on-exec) connected to `path`, or -1 with `errno` saying why.
public func connectUnixSocket(_ path: String) -> Int32 {
    guard let address = UnixSocketAddress(path) else {
        errno = ENAMETOOLONG
        return -1
    }
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { return -1 }
    guard address.withSockaddr({ connect(descriptor, $0, $1) }) == 0 else {
        let reason = errno
        close(descriptor)
        errno = reason
        return -1
    }
    return descriptor
}

/// `struct ucred` from `<sys/socket.h>`, which Glibc's module map hides without `_GNU_SOURCE`.
public struct PeerCredentials: Sendable {
    public var pid: Int32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
}

/// The credentials (`SO_PEERCRED`) of the process on the other end of a Unix socket.
public func peerCredentials(of descriptor: Int32) -> PeerCredentials? {
    var credentials = PeerCredentials()
    var length = socklen_t(MemoryLayout<PeerCredentials>.size)
    guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
    return credentials
}
