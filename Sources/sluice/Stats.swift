import ArgumentParser
import Foundation

/// `sluice stats`: prints a running gateway's STATS.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running gateway's statistics.",
        discussion: """
            Exit status: 0 when the gateway is healthy, 2 when it serves but is unhealthy (circuit open too long, \
            spool nearly full, shutting down: the reasons are printed on stderr), 1 when it cannot be reached.
            """)

    @OptionGroup var socket: SocketOption

    @Flag(help: "Print the raw JSON document instead of a table.")
    var json = false

    func run() throws {
        let client = try GatewayClient(socketPath: socket.path)
        let document = try client.stats()
        let object = try? JSONSerialization.jsonObject(with: Data(document.utf8))
        defer { exitUnlessHealthy(object) }
        if json {
            print(document)
            return
        }
        guard let object else {
            print(document)
            return
        }
        var rows: [(String, String)] = []
        flatten(object, prefix: "", into: &rows)
        let width = rows.map(\.0.count).max() ?? 0
        for (name, value) in rows {
            print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
    }

    /// Exits 2, naming the problems, when the document says the gateway is unhealthy.
    private func exitUnlessHealthy(_ object: Any?) {
        guard let health = (object as? [String: Any])?["health"] as? [String: Any],
            health["healthy"] as? Bool == false
        else { return }
        for problem in health["problems"] as? [String] ?? [] {
            FileHandle.standardError.write(Data("sluice stats: unhealthy: \(problem)\n".utf8))
        }
        Stats.exit(withError: ExitCode(2))
    }

    private func flatten(_ value: Any, prefix: String, into rows: inout [(String, String)]) {
        if let object = value as? [String: Any] {
            if object.isEmpty && !prefix.isEmpty { rows.append((prefix, "-")) }
            for key in object.keys.sorted() {
                flatten(object[key]!, prefix: prefix.isEmpty ? key : "\(prefix).\(key)", into: &rows)
            }
        } else if let number = value as? NSNumber, String(cString: number.objCType) == "c" {
            rows.append((prefix, number.boolValue ? "true" : "false"))
        } else if let integer = value as? Int {
            rows.append((prefix, String(integer)))
        } else if let double = value as? Double {
            rows.append((prefix, String(format: "%.1f", double)))
        } else {
            rows.append((prefix, "\(value)"))
        }
    }
}
