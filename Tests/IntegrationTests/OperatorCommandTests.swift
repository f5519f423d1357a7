import Foundation
import SluiceGateway
import SluiceKafka
import SluiceTestSupport
import Testing

@Suite("Operator commands: --version, check-config, stats exit status", .timeLimit(.minutes(2)))
struct OperatorCommandTests {
    @Test func versionNamesSluiceAndItsLibraries() throws {
        let result = try run(try sluiceExecutable(), ["--version"])
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first == "sluice \(LibraryVersions().sluice)")
        #expect(lines.contains("librdkafka \(KafkaLibrary.version)"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("SQLite 3.") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("zstd 1.") }, "\(lines)")
    }

    @Test func refusesDebianBookwormsLibrdkafka() throws {
        // LD_LIBRARY_PATH comes before the binary's RUNPATH: this loads Debian's 2.0.2,
        // as an installed binary would that found no bundled library.
        let multiarch = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
        let directory = try #require(
            multiarch.first { FileManager.default.fileExists(atPath: $0 + "/librdkafka.so.1") },
            "Debian's librdkafka1 (2.0.2) is installed by scripts/bootstrap.sh")
        let temporary = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try sluiceExecutable())
        process.arguments = [
            "serve", "--socket", temporary + "/s.sock", "--spool", temporary + "/spool.db", "--brokers", "127.0.0.1:1",
        ]
        process.environment = ["LD_LIBRARY_PATH": directory, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(
            text.contains("librdkafka 2.0.2 was loaded from \(directory)/librdkafka.so.1; Sluice needs 2.1 or newer"),
            "\(text)")
        #expect(!FileManager.default.fileExists(atPath: temporary + "/s.sock"), "it never served")
    }

    @Test func checkConfigValidatesWithoutStarting() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sluice = try sluiceExecutable()
        let good = directory + "/good.yaml"
        try """
        socket: \(directory)/never.sock
        kafka: { brokers: "127.0.0.1:1", linger: 5ms, socket.keepalive.enable: true }
        spool: { path: \(directory)/never.db, max-bytes: 2GiB }
        metrics: { listen: "127.0.0.1:9464" }
        """.write(toFile: good, atomically: true, encoding: .utf8)
        let ok = try run(sluice, ["check-config", good])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("valid"))
        #expect(ok.output.contains("2147483648 bytes"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/never.sock"), "nothing was started")
        #expect(!FileManager.default.fileExists(atPath: directory + "/never.db"))
        #expect(ok.output.contains("headers   event-id, event-type, sluice-uid, sluice-pid"), "\(ok.output)")

        let bare = directory + "/bare.yaml"
        try "kafka: { brokers: \"127.0.0.1:1\", stamp-headers: [] }\n".write(
            toFile: bare, atomically: true, encoding: .utf8)
        let none = try run(sluice, ["check-config", bare])
        #expect(none.status == 0, "\(none.output)")
        #expect(none.output.contains("headers   none stamped ([])"), "\(none.output)")

        let old = directory + "/old.yaml"
        try "kafka: { lingerMs: 5 }\n".write(toFile: old, atomically: true, encoding: .utf8)
        let renamed = try run(sluice, ["check-config", old])
        #expect(renamed.status == 1)
        #expect(renamed.output.contains("kafka.lingerMs is now spelt kafka.linger"), "\(renamed.output)")

        let typo = directory + "/typo.yaml"
        try "kafka: { linger.mss: 5 }\n".write(toFile: typo, atomically: true, encoding: .utf8)
        let refused = try run(sluice, ["check-config", typo])
        #expect(refused.status == 1)
        #expect(refused.output.contains("linger.mss"), "librdkafka names the property it does not know")
    }

    @Test func statsExitStatusFollowsHealth() throws {
        let sluice = try sluiceExecutable()
        let missing = try run(sluice, ["stats", "--socket", "/tmp/sluice-no-such.sock"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("is `sluice serve` running"), "\(missing.output)")

        let broker = try DevBroker()
        let healthy = try GatewayProcess(brokers: broker.bootstrapServers)
        let good = try run(sluice, ["stats", "--socket", healthy.socketPath])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("health.healthy"))

        // No broker at all: the circuit opens, and any time open is too long here.
        let unhealthy = try GatewayProcess(
            brokers: "127.0.0.1:\(try freeTCPPort())", configYAML: "health: { circuit-open-longer-than: 0 }\n")
        var last: (status: Int32, output: String) = (0, "")
        try waitUntil("sluice stats reports the open circuit", timeout: 30, interval: 0.2) {
            last = try run(sluice, ["stats", "--socket", unhealthy.socketPath, "--json"])
            return last.status == 2
        }
        #expect(last.output.contains("unhealthy: circuit breaker OPEN"), "\(last.output)")
    }
}
