import CSluiceClient
import Foundation
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Settings that make recovery quick enough for a test; the logic is the production one.
func outageSettings(_ configuration: inout GatewayConfiguration) {
    configuration.producer.deliveryTimeoutMilliseconds = 3_000
    configuration.producer.properties["reconnect.backoff.max.ms"] = "500"
    configuration.circuitBreaker.waitDurationInOpenStateMilliseconds = 500
    configuration.circuitBreaker.minimumNumberOfCalls = 5
    configuration.circuitBreaker.permittedCallsInHalfOpenState = 5
    configuration.retry.intervalMilliseconds = 1_000
}

/// Publishes one event per player with sequence `round` through the C client and waits for the acks.
func publishRound(_ client: OpaquePointer, topic: String, round: Int, players: [String]) throws {
    for player in players {
        let value = Array("\(player):\(round)".utf8)
        guard sluice_publish(client, topic, player, value, value.count, nil, 0) == SLUICE_OK else {
            throw TestFailure("publish failed: \(String(cString: sluice_errstr(client)))")
        }
    }
    guard sluice_flush(client, 60_000) == SLUICE_OK else {
        throw TestFailure("flush of round \(round) failed: \(String(cString: sluice_errstr(client)))")
    }
}

/// Checks that every player has sequences `required` in order (duplicates of earlier ids allowed).
func verifyAfterOutage(_ records: [ConsumedRecord], players: [String], required: Range<Int>) throws {
    var seen: [String: [Int]] = [:]
    var ids: [String: String] = [:]
    for record in records {
        let value = String(decoding: record.value, as: UTF8.self)
        let parts = value.split(separator: ":")
        guard parts.count == 2, let sequence = Int(parts[1]) else { throw TestFailure("bad value \(value)") }
        let key = String(parts[0])
        // A duplicate must repeat an earlier event id for the same event, never invent a new one.
        if let id = record.header("event-id") {
            if let earlier = ids[value], earlier != id { throw TestFailure("\(value) arrived with two event ids") }
            ids[value] = id
        }
        seen[key, default: []].append(sequence)
    }
    for player in players {
        var order: [Int] = []
        for sequence in seen[player] ?? [] where !order.contains(sequence) {
            guard order.last.map({ $0 < sequence }) ?? true else {
                throw TestFailure("\(player): \(sequence) arrived after \(order.last!) (\(seen[player]!))")
            }
            order.append(sequence)
        }
        for sequence in required where !order.contains(sequence) {
            throw TestFailure("\(player): acked event \(sequence) is missing (\(order))")
        }
    }
}

/// Starts `sluice serve` with `arguments` and waits until it answers on `socketPath`.
func startServer(_ arguments: [String], socketPath: String) throws -> Process {
    let server = Process()
    server.executableURL = URL(fileURLWithPath: try sluiceExecutable())
    server.arguments = arguments
    server.standardError = FileHandle.nullDevice
    try server.run()
    try waitUntil("the gateway serves its socket", timeout: 15) {
        (try? RawClient.handshaken(socketPath: socketPath)) != nil
    }
    return server
}

/// A temporary directory holding `yaml` as the configuration file, and the arguments of a
/// `sluice serve` with its socket and spool there, publishing to `broker`.
struct ServeSetup {
    let directory: String
    let socketPath: String
    let arguments: [String]

    init(broker: DevBroker, yaml: String) throws {
        directory = try temporaryDirectory()
        socketPath = directory + "/s.sock"
        try yaml.write(toFile: directory + "/sluice.yaml", atomically: true, encoding: .utf8)
        arguments = [
            "serve", "--socket", socketPath, "--brokers", broker.bootstrapServers, "--spool", directory + "/spool.db",
            "--config", directory + "/sluice.yaml",
        ]
    }
}

/// Waits until the restarted gateway has drained its spool, reads `topic` back (`rounds` of
/// each of `players`' records) and checks it, then stops the gateway, which must exit 0.
func drainThenVerify(
    _ server: Process, socketPath: String, broker: DevBroker, topic: String, players: [String], rounds: Range<Int>
) throws {
    try waitUntil("the restarted gateway drains its spool", timeout: 90) {
        try retryStats(socketPath: socketPath)["pending"] as? Int == 0
    }
    let records = try consume(topic: topic, brokers: broker.bootstrapServers, count: rounds.count * players.count)
    try verifyAfterOutage(records, players: players, required: rounds)
    kill(server.processIdentifier, SIGTERM)
    server.waitUntilExit()
    #expect(server.terminationStatus == 0)
}

/// The `retry` object of a gateway's STATS.
func retryStats(socketPath: String) throws -> [String: Any] {
    guard let retry = try statsDocument(socketPath: socketPath).document["retry"] as? [String: Any] else {
        throw TestFailure("no retry object in STATS")
    }
    return retry
}

@Suite("Outages and crashes against a real broker", .serialized, .timeLimit(.minutes(5)))
struct OutageTests {
    @Test func brokerOutageThenFreshBrokerLosesNothingAckedAndKeepsOrder() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers, configure: outageSettings)
        var options = sluice_options()
        sluice_options_init(&options)
        let client = try #require(sluice_connect(test.socketPath, &options))
        defer { sluice_close(client) }

        try publishRound(client, topic: "outage", round: 0, players: players)
        try publishRound(client, topic: "outage", round: 1, players: players)
        broker.stop()
        let started = Date()
        for round in 2..<5 { try publishRound(client, topic: "outage", round: round, players: players) }
        #expect(Date().timeIntervalSince(started) < 30, "durable acks stay prompt during the outage")
        #expect(test.gateway.stats().retry.pending > 0, "records waited in the spool")
        #expect(test.gateway.stats().publisher.circuitBreakerState != "CLOSED")

        try broker.start()  // a fresh, empty broker on the same port
        for round in 5..<8 { try publishRound(client, topic: "outage", round: round, players: players) }
        try waitUntil("the spool drains into the new broker", timeout: 90) {
            let stats = test.gateway.stats()
            return stats.retry.pending == 0 && stats.publisher.circuitBreakerState == "CLOSED"
        }
        #expect(test.gateway.stats().retry.dlq == 0, "an outage sends nothing to the DLQ")
        // Rounds 0 and 1 went to the old broker and died with it; everything acked after is here.
        let records = try consume(topic: "outage", brokers: broker.bootstrapServers, count: 6 * players.count)
        try verifyAfterOutage(records, players: players, required: 2..<8)
        let balance = try #require(test.gateway.stats().topics["outage"])
        #expect(balance.received == 8 * players.count)
        #expect(balance.received == balance.published + balance.pending + balance.dlq + balance.dropped)
    }

    @Test func hoursOfOutageCostNoAttemptsAndSendNothingToTheDLQ() throws {
        let broker = try DevBroker()
        let clock = ManualClock()
        let test = try TestGateway(brokers: broker.bootstrapServers, clock: clock) { configuration in
            outageSettings(&configuration)
            configuration.retry.intervalMilliseconds = 3_600_000  // rounds only when the test runs them
            configuration.circuitBreaker.waitDurationInOpenStateMilliseconds = 60_000
        }
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let warmup = try client.publish([playerRecord(topic: "long", player: "p", sequence: 0)])
        #expect(try client.readFrame(timeout: 30).0 == warmup)
        broker.stop()
        try waitUntil("the circuit opens", timeout: 20) { test.gateway.circuitState == .open }
        let id = try client.publish((1..<11).map { playerRecord(topic: "long", player: "p", sequence: $0) })
        let (replyID, reply) = try client.readFrame(timeout: 10)
        #expect(replyID == id && reply == .ack(.init(recordCount: 10, failures: [])))

        for _ in 0..<8 {  // four hours, a round every 30 minutes
            clock.advance(by: 30 * 60_000)
            test.gateway.retrySpoolNow()
        }
        let rows = try SpoolInspector(path: test.directory + "/spool.db").all()
        #expect(rows.count == 10)
        #expect(rows.allSatisfy { $0.status == "PENDING" && $0.attempts == 0 }, "\(rows)")
        #expect(test.gateway.stats().retry.dlq == 0)

        try broker.start()
        try waitUntil("the spool drains", timeout: 60) {
            clock.advance(by: 60_000)
            test.gateway.retrySpoolNow()
            return test.gateway.stats().retry.pending == 0
        }
        let records = try consume(topic: "long", brokers: broker.bootstrapServers, count: 10)
        try verifyAfterOutage(records, players: ["p"], required: 1..<11)
    }

    @Test func killMinusNineLosesNothingAcked() throws {
        let broker = try DevBroker()
        let setup = try ServeSetup(
            broker: broker,
            yaml: """
                kafka:
                  delivery-timeout: 3s
                  reconnect.backoff.max.ms: 500
                  circuit-breaker: { wait-duration-in-open-state: 500ms, minimum-number-of-calls: 5 }
                  retry: { interval: 1s }
                """)
        defer { try? FileManager.default.removeItem(atPath: setup.directory) }
        let (socketPath, arguments) = (setup.socketPath, setup.arguments)
        var server = try startServer(arguments, socketPath: socketPath)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        var options = sluice_options()
        sluice_options_init(&options)
        options.reconnect_attempts = 1
        let client = try #require(sluice_connect(socketPath, &options))
        defer { sluice_close(client) }
        try publishRound(client, topic: "crash", round: 0, players: players)
        broker.stop()
        for round in 1..<4 { try publishRound(client, topic: "crash", round: round, players: players) }
        // More in flight, unacked, at the moment of the crash.
        for player in players.prefix(100) {
            let value = Array("\(player):4".utf8)
            _ = sluice_publish(client, "crash", player, value, value.count, nil, 0)
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()

        try broker.start()
        server = try startServer(arguments, socketPath: socketPath)
        try drainThenVerify(
            server, socketPath: socketPath, broker: broker, topic: "crash", players: players, rounds: 1..<4)
    }

    @Test func killMinusNineDuringADrainLosesNothingAndKeepsOrder() throws {
        let broker = try DevBroker()
        // A long linger slows the drain down so that the crash lands in the middle of it.
        let setup = try ServeSetup(
            broker: broker,
            yaml: """
                kafka:
                  linger: 400ms
                  retry: { batch-size: 500 }
                """)
        defer { try? FileManager.default.removeItem(atPath: setup.directory) }
        let (socketPath, arguments) = (setup.socketPath, setup.arguments)
        var server = try startServer(arguments, socketPath: socketPath)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        broker.stop()
        var options = sluice_options()
        sluice_options_init(&options)
        let client = try #require(sluice_connect(socketPath, &options))
        defer { sluice_close(client) }
        let rounds = 40
        for round in 0..<rounds { try publishRound(client, topic: "drain", round: round, players: players) }
        #expect(
            try retryStats(socketPath: socketPath)["pending"] as? Int == rounds * players.count,
            "everything waits in the spool")

        try broker.start()
        try waitUntil("the drain is under way", timeout: 60) {
            (try retryStats(socketPath: socketPath)["resolved"] as? Int ?? 0) > 0
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        server = try startServer(arguments, socketPath: socketPath)
        let left = try retryStats(socketPath: socketPath)
        #expect(left["pending"] as? Int ?? 0 > 0, "the crash came before the drain was done: \(left)")
        try drainThenVerify(
            server, socketPath: socketPath, broker: broker, topic: "drain", players: players, rounds: 0..<rounds)
    }

    @Test func sigtermDuringAnOutageExitsPromptlyAndKeepsEverything() throws {
        let broker = try DevBroker()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/s.sock"
        let sluice = try sluiceExecutable()
        let arguments = [
            "serve", "--socket", socketPath, "--brokers", broker.bootstrapServers, "--spool", directory + "/spool.db",
        ]
        let server = Process()
        server.executableURL = URL(fileURLWithPath: sluice)
        server.arguments = arguments
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        try waitUntil("the gateway serves its socket", timeout: 15) {
            (try? RawClient.handshaken(socketPath: socketPath)) != nil
        }
        broker.stop()
        let input = (0..<500).map { "k\($0 % 10)\tk\($0 % 10):\($0 / 10)\n" }.joined()
        let send = try run(sluice, ["send", "--socket", socketPath, "--topic", "term"], input: Data(input.utf8))
        #expect(send.status == 0, "\(send.output)")

        let stopping = Date()
        kill(server.processIdentifier, SIGTERM)
        try waitUntil("sluice serve exits after SIGTERM", timeout: 30) { !server.isRunning }
        #expect(server.terminationStatus == 0)
        #expect(Date().timeIntervalSince(stopping) < 15, "shutdown is bounded by the flush timeout")

        try broker.start()
        let restarted = try TestGateway(
            brokers: broker.bootstrapServers, directory: directory, configure: outageSettings)
        try waitUntil("the spool drains", timeout: 60) { restarted.gateway.stats().retry.pending == 0 }
        let records = try consume(topic: "term", brokers: broker.bootstrapServers, count: 500)
        try verifyAfterOutage(records, players: (0..<10).map { "k\($0)" }, required: 0..<50)
    }
}
