import Foundation
import SluiceProtocol
import SluiceTestSupport
import Testing

/// docs/ARCHITECTURE.md's thread table is the truth: `sluice serve` runs exactly the
/// `sluice*` threads it names, under those names.
@Suite("Thread map", .serialized, .timeLimit(.minutes(2)))
struct ThreadMapTests {
    /// The `sluice*` names in the first column of the document's thread table.
    private func documentedNames() throws -> Set<String> {
        let document = try String(
            contentsOf: repositoryRoot.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        var names: Set<String> = []
        for line in document.split(separator: "\n") where line.hasPrefix("| `sluice") {
            let cell = line.dropFirst(2).prefix { $0 != "|" }
            let pieces = cell.split(separator: "`", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() where index % 2 == 1 { names.insert(String(piece)) }
        }
        return names
    }

    @Test func theGatewayRunsTheDocumentedThreadsUnderTheirNames() throws {
        let broker = try DevBroker()
        // With the metrics listener and a systemd watchdog, so every optional thread runs.
        let gateway = try GatewayProcess(
            brokers: broker.bootstrapServers, configYAML: "metrics: { listen: \"127.0.0.1:0\" }\n",
            environment: ["WATCHDOG_USEC": "10000000"])
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        let id = try client.publish([playerRecord(topic: "thread.map", player: "p", sequence: 0)])
        let (replyID, reply) = try client.readFrame(timeout: 30)
        guard replyID == id, case .ack(let ack) = reply, ack.failures.isEmpty else {
            throw TestFailure("expected a clean ACK, got \(reply)")
        }

        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(gateway.pid)/task")
        let running = tasks.compactMap {
            try? String(contentsOfFile: "/proc/\(gateway.pid)/task/\($0)/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
        }.filter { $0.hasPrefix("sluice") }
        let loops = running.filter { $0.hasPrefix("sluice-loop-") }
        #expect(!loops.isEmpty && loops.count <= 4, "one loop per core, at most 4: \(loops)")
        #expect(Set(loops).count == loops.count, "each loop has its own number: \(loops)")

        let documented = try documentedNames()
        #expect(documented.contains("sluice-loop-N"))
        let others = Set(running.filter { !$0.hasPrefix("sluice-loop-") })
        #expect(others == documented.subtracting(["sluice-loop-N"]), "running: \(running.sorted())")
        #expect(running.count - loops.count == others.count, "one thread per name: \(running.sorted())")
    }
}
