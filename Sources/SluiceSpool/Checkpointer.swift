import Dispatch
import GRDB

/// Copies the WAL into the database file from a connection and a thread of its own, so the
/// spool's writer spends its time on inserts (SQLite's automatic checkpoint would run on
/// the writer, in the commit that crosses the threshold).
final class Checkpointer: Sendable {
    private let connection: DatabaseQueue
    /// Set once in init, then only cancelled.
    nonisolated(unsafe) private let timer: DispatchSourceTimer

    init(path: String, synchronous: SpoolSynchronous) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
        }
        connection = try DatabaseQueue(path: path, configuration: configuration)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "sluice.spool.checkpoint"))
        timer.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
        timer.setEventHandler { [connection] in
            _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
        }
        timer.activate()
    }

    deinit {
        timer.cancel()
        _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
    }
}
