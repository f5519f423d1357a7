import Foundation
import SluiceGateway
import SluiceSystem
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice serve` as a service manager starts it: a dev broker, and `NOTIFY_SOCKET` (plus
/// `environment`) pointing at a socket the test reads.
private final class ServiceUnderTest {
    let broker: DevBroker
    let directory: String
    let notify: NotifySocket
    let gateway: GatewayProcess

    init(environment: [String: String]) throws {
        broker = try DevBroker()
        directory = try temporaryDirectory()
        notify = try NotifySocket(path: directory + "/notify.sock")
        var environment = environment
        environment["NOTIFY_SOCKET"] = notify.path
        gateway = try GatewayProcess(
            brokers: broker.bootstrapServers, environment: environment, waitUntilServing: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("Running under a service manager: sd_notify and log lines", .timeLimit(.minutes(2)))
struct ServiceTests {
    @Test func notifiesReadyOnceServingAndStoppingOnSIGTERM() throws {
        let service = try ServiceUnderTest(environment: [:])
        let (notify, gateway) = (service.notify, service.gateway)
        let ready = try notify.receive(timeout: 15)
        #expect(ready.contains("READY=1"), "\(ready)")
        #expect(ready.contains("MAINPID=\(gateway.pid)"))
        // READY=1 comes only once the socket listens.
        #expect((try? RawClient.handshaken(socketPath: gateway.socketPath)) != nil)
        kill(gateway.pid, SIGTERM)
        let stopping = try notify.receive(timeout: 15)
        #expect(stopping == "STOPPING=1")
        try waitUntil("sluice serve exits", timeout: 30) { !gateway.process.isRunning }
        #expect(gateway.process.terminationStatus == 0)
    }

    @Test func pingsTheWatchdogWhileTheLoopsAnswer() throws {
        let service = try ServiceUnderTest(environment: ["WATCHDOG_USEC": "200000"])
        let (notify, gateway) = (service.notify, service.gateway)
        #expect(try notify.receive(timeout: 15).contains("READY=1"))
        for _ in 0..<3 {
            #expect(try notify.receive(timeout: 2) == "WATCHDOG=1", "a ping every 100 ms")
        }
        #expect(try gateway.stop() == 0)
    }

    /// `ServiceNotifier` is the CLI's: `sluice serve` is asked, not the type (the ping itself is tested above).
    @Test func noWatchdogPingsForAnotherProcess() throws {
        let service = try ServiceUnderTest(environment: ["WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"])
        let (notify, gateway) = (service.notify, service.gateway)
        #expect(try notify.receive(timeout: 15).contains("READY=1"))
        #expect(throws: TestFailure.self, "no WATCHDOG=1 for another process's watchdog") {
            _ = try notify.receive(timeout: 1)
        }
        #expect(try gateway.stop() == 0)
    }

    @Test func jsonLogLinesAndOneLinePerFailure() throws {
        // No broker listens on this port: librdkafka fails to connect and the circuit opens.
        let gateway = try GatewayProcess(
            brokers: "127.0.0.1:\(try freeTCPPort())", logLevel: "info", arguments: ["--log-format", "json"])
        var lines: [[String: Any]] = []
        try waitUntil("the circuit opens and librdkafka's failure is logged", timeout: 30, interval: 0.1) {
            lines = gateway.log.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            let messages = lines.compactMap { $0["message"] as? String }
            return messages.contains { $0.hasPrefix("circuit opened") }
                && messages.contains { $0.contains("Connection refused") }
        }
        let raw = gateway.log.split(separator: "\n")
        #expect(lines.count == raw.count, "every line is a JSON object: \(gateway.log)")
        for line in lines {
            let ts = line["ts"] as? String ?? ""
            #expect(ts.count == 24 && ts.hasSuffix("Z"), "millisecond UTC timestamp: \(ts)")
            #expect(line["level"] is String && line["message"] is String)
        }
        let messages = lines.compactMap { $0["message"] as? String }
        #expect(messages.contains { $0.hasPrefix("serving ") })
        let librdkafka = lines.filter { $0["source"] as? String == "librdkafka" }
        #expect(librdkafka.contains { $0["facility"] as? String == "FAIL" }, "librdkafka's lines carry their facility")
        let refused = messages.filter { $0.contains("Connection refused") }
        #expect(
            refused.allSatisfy { $0.hasPrefix("librdkafka ") },
            "a connection failure reaches the log once, from librdkafka's log callback: \(refused)")
        #expect(!messages.contains { $0.contains("brokers are down (-187)") }, "said once, as the circuit's reason")
        let openings = messages.filter { $0.contains("→ OPEN") }
        #expect(openings.count == 1, "\(openings)")
        #expect(
            openings.first?.hasPrefix("circuit opened: all brokers are down (CLOSED → OPEN)") == true,
            "reason first: \(openings)")
    }
}

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let bound = UnixSocketAddress(path)?.withSockaddr { bind(descriptor, $0, $1) }
        guard descriptor >= 0, bound == 0 else { throw TestFailure("cannot bind \(path)") }
    }

    deinit { close(descriptor) }

    /// The next datagram, waiting at most `timeout` seconds.
    func receive(timeout: Double) throws -> String {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { throw TestFailure("no notification in \(timeout) s") }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count >= 0 else { throw TestFailure("recv failed") }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
