import Foundation
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway out of file descriptors: it answers, pauses, never spins, and recovers.
@Suite("File descriptor limits", .serialized, .timeLimit(.minutes(2)))
struct DescriptorLimitTests {
    static let prlimit = "/usr/bin/prlimit"

    @Test func outOfDescriptorsRefusesWithoutSpinningAndRecovers() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.prlimit), "util-linux prlimit is needed")
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers)
        // One record through to Kafka first, so librdkafka's connections are open when the
        // gateway's descriptors are counted (the warm-up client's own is counted, then freed).
        let limit: Int
        do {
            let warmup = try RawClient.handshaken(socketPath: gateway.socketPath)
            let id = try warmup.publish([playerRecord(topic: "fd-warmup", player: "p", sequence: 0)])
            let (replyID, reply) = try warmup.readFrame(timeout: 30)
            try #require(replyID == id, "warm-up: \(reply)")
            guard case .ack = reply else { throw TestFailure("warm-up record not acked: \(reply)") }
            limit = gateway.openDescriptors + 6
        }
        let lowered = try run(Self.prlimit, ["--pid", "\(gateway.pid)", "--nofile=\(limit):"])
        try #require(lowered.status == 0, "prlimit: \(lowered.output)")

        var held: [RawClient] = []
        var refused = 0
        for attempt in 0..<30 {
            do {
                try knock(gateway, held: &held, refused: &refused)
            } catch {
                Issue.record(
                    "client \(attempt): \(error); gateway running: \(gateway.process.isRunning), log: \(gateway.log.suffix(3_000))"
                )
                return
            }
        }
        // librdkafka opens and closes sockets too, so the count served varies by a few.
        #expect((1...12).contains(held.count), "\(held.count) clients served under a limit of \(limit)")
        #expect(held.count + refused == 30, "\(held.count) served and \(refused) refused of 30")

        // Saturated, with clients still knocking: the gateway must not spin.
        let start = gateway.cpuTicks
        let began = Date()
        for attempt in 0..<5 {
            let client = try RawClient(socketPath: gateway.socketPath)
            do {
                guard case .error = try client.read(timeout: 5) else {
                    Issue.record("a client over the limit got no TOO_MANY_CONNECTIONS")
                    continue
                }
            } catch {
                Issue.record(
                    "saturated client \(attempt): \(error); running: \(gateway.process.isRunning), log: \(gateway.log.suffix(3_000))"
                )
            }
        }
        try waitUntil("a second has passed", timeout: 2) { Date().timeIntervalSince(began) >= 1 }
        let ticks = gateway.cpuTicks - start
        let seconds = Date().timeIntervalSince(began)
        let share = Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds
        #expect(share < 0.10, "the saturated gateway used \(Int(share * 100)) % of a core")

        // Descriptors come back: a new client is served again. (The limit is raised too:
        // librdkafka may take the few descriptors the held clients give back.)
        held.removeAll()
        let raised = try run(Self.prlimit, ["--pid", "\(gateway.pid)", "--nofile=4096:"])
        try #require(raised.status == 0, "prlimit: \(raised.output)")
        try waitUntil("a client is served after descriptors were freed", timeout: 10) {
            (try? RawClient.handshaken(socketPath: gateway.socketPath)) != nil
        }
        #expect(gateway.process.isRunning)
    }

    @Test func refusesToStartWhenTheLimitCannotFitMaxConnections() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.prlimit), "util-linux prlimit is needed")
        let broker = try DevBroker()
        let gateway = try GatewayProcess(
            brokers: broker.bootstrapServers, prefix: [Self.prlimit, "--nofile=64:64"], waitUntilServing: false)
        try waitUntil("sluice serve exits", timeout: 15) { !gateway.process.isRunning }
        #expect(gateway.process.terminationStatus != 0)
        #expect(gateway.log.contains("file descriptors"), "the reason is logged: \(gateway.log)")
        #expect(!FileManager.default.fileExists(atPath: gateway.socketPath))
    }

    /// One client knocks: it is either served (kept in `held`) or refused with TOO_MANY_CONNECTIONS.
    private func knock(_ gateway: GatewayProcess, held: inout [RawClient], refused: inout Int) throws {
        let client = try RawClient(socketPath: gateway.socketPath)
        if case .error(let error)? = try? client.read(timeout: 0.3) {
            #expect(error.rawCode == ErrorCode.tooManyConnections.rawValue, "\(error)")
            refused += 1
            return
        }
        // The refusal may come after the first wait (accepting pauses); it is read below.
        try? client.send(Hello(clientName: "held").frame(requestID: 1))
        // No client waits forever: a HELLO_OK, or the refusal, within a bounded time.
        switch try client.read(timeout: 5) {
        case .helloOK: held.append(client)
        case .error(let error):
            #expect(error.rawCode == ErrorCode.tooManyConnections.rawValue, "\(error)")
            refused += 1
        default: Issue.record("unexpected reply to HELLO")
        }
    }
}
