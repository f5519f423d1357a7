import Foundation
import SluiceSpool

/// Reads a spool file as an operator command does, without the gateway's lock.
public struct SpoolInspector {
    public struct Row: Equatable {
        public var id: Int
        public var key: String
        public var status: String
        public var attempts: Int
    }

    public let path: String
    public init(path: String) { self.path = path }

    /// Every record in the spool, its log and its table, as an operator's `sluice spool list` sees them.
    public func all() throws -> [Row] {
        try Spool(path: path).list(limit: Int.max).map { stored in
            Row(
                id: Int(stored.id), key: String(decoding: stored.record.key, as: UTF8.self),
                status: stored.status.rawValue, attempts: stored.attempts)
        }
    }
}
