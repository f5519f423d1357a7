import Foundation

/// Reads a spool file with the `sqlite3` command, independently of the code under test.
public struct SpoolInspector {
    public struct Row: Equatable {
        public var id: Int
        public var key: String
        public var status: String
        public var attempts: Int
    }

    public let path: String
    public init(path: String) { self.path = path }

    public func all() throws -> [Row] {
        let result = try run(
            "/usr/bin/sqlite3",
            [
                "-separator", "\t", path,
                "SELECT id, CAST(key AS TEXT), status, attempts FROM failed_kafka_events ORDER BY id",
            ])
        guard result.status == 0 else { throw TestFailure("sqlite3 failed: \(result.output)") }
        return result.output.split(separator: "\n").map { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Row(id: Int(f[0]) ?? -1, key: f[1], status: f[2], attempts: Int(f[3]) ?? -1)
        }
    }
}
