import Foundation
import SluiceProtocol
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The process on the other end of a connection, from `SO_PEERCRED`.
struct Peer: Sendable {
    var uid: UInt32
    var gid: UInt32
    var pid: Int32
    /// Topic prefixes this peer may publish to; nil when unrestricted.
    var topicPrefixes: [String]?

    /// Reads the credentials of the process connected on `descriptor`.
    static func of(descriptor: Int32) -> Peer? {
        peerCredentials(of: descriptor).map { Peer(uid: $0.uid, gid: $0.gid, pid: $0.pid) }
    }

    var identity: String { "uid=\(uid) pid=\(pid)" }

    /// The values of its `sluice-uid` and `sluice-pid` headers.
    var publisher: StampedHeaders.Publisher { StampedHeaders.Publisher(uid: uid, pid: pid) }

    /// Whether `topic` starts with one of the allowed prefixes.
    func mayPublish(to topic: String) -> Bool {
        guard let topicPrefixes else { return true }
        return topicPrefixes.contains { topic.utf8.starts(with: $0.utf8) }
    }
}
