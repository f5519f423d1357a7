import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Reload in process (`Gateway.reload`): what applies live, what a bad file does, open connections.
@Suite("Reload in process, real broker", .serialized, .timeLimit(.minutes(3)))
struct ReloadTests {
    @Test func stampedHeadersTopicPrefixesAndTheBreakerApplyFromTheNextBatch() throws {
        let broker = try DevBroker()
        try broker.createTopic("reload.live", partitions: 1)
        let test = try TestGateway(brokers: broker.bootstrapServers)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try expectAck(client, [playerRecord(topic: "reload.live", player: "p", sequence: 0)])

        var next = test.gateway.configuration
        next.stampHeaders = StampedHeaders([])
        next.access.topicPrefixesByUID = [getuid(): ["reload."]]
        next.circuitBreaker.slidingWindowSize = 7
        let report = try test.gateway.reload { next }
        #expect(report.generation == 2)
        #expect(report.applied.contains("kafka.stamp-headers"))
        #expect(report.applied.contains("access.topic-prefixes-by-uid"))
        #expect(report.applied.contains("kafka.circuit-breaker"))
        #expect(!report.replacedProducer && report.needRestart.isEmpty)

        // The same connection: its next batch is stamped by, and checked against, the new file.
        try expectAck(client, [playerRecord(topic: "reload.live", player: "p", sequence: 1)])
        try expectAck(
            client, [playerRecord(topic: "elsewhere", player: "p", sequence: 2)], failures: [.topicNotAllowed])
        let records = try consume(topic: "reload.live", brokers: broker.bootstrapServers, count: 2)
        #expect(records.count == 2)
        #expect(records.first { $0.value == Array("p:0".utf8) }?.header("event-id") != nil, "stamped before")
        #expect(records.first { $0.value == Array("p:1".utf8) }?.headers.isEmpty == true, "none stamped after")
        let config = try #require(test.gateway.stats().config)
        #expect(config.generation == 2 && config.reloadsApplied == 1 && config.lastReloadResult == "applied")
    }

    @Test func aContractAddedByAReloadChecksTheNextBatch() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let notJSON = OutgoingRecord(topic: "reload.contract", key: Array("p".utf8), value: Array("plain".utf8))
        try expectAck(client, [notJSON])
        var next = test.gateway.configuration
        var contract = TopicContract(topic: "reload.*")
        contract.valueIsJSON = true
        next.topics = TopicContracts(contracts: [contract])
        let report = try test.gateway.reload { next }
        #expect(report.applied == ["topics"])
        let json = OutgoingRecord(topic: "reload.contract", key: Array("p".utf8), value: Array("{}".utf8))
        try expectAck(client, [notJSON, json], failures: [.contractViolation])
    }

    /// A certificate renewed at the same path is a new producer setting, though the file's text
    /// did not change (without a reload, the next opening of the circuit would be what takes it).
    @Test func aFileNamedByALocationPropertyChangedInPlaceReplacesTheProducer() throws {
        let broker = try DevBroker()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ca = directory + "/ca.pem"
        try "first\n".write(toFile: ca, atomically: false, encoding: .utf8)
        let test = try TestGateway(brokers: broker.bootstrapServers) { $0.producer.properties["ssl.ca.location"] = ca }
        let unchanged = try test.gateway.reload { test.gateway.configuration }
        #expect(!unchanged.replacedProducer && unchanged.applied.isEmpty)
        try "renewed\n".write(toFile: ca, atomically: false, encoding: .utf8)
        let renewed = try test.gateway.reload { test.gateway.configuration }
        #expect(renewed.replacedProducer && renewed.applied == ["kafka (producer settings)"])
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try expectAck(client, [playerRecord(topic: "reload.renewed", player: "p", sequence: 0)])
    }

    @Test func aBadConfigurationChangesNothingAndIsCounted() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers) { $0.metricsListen = "127.0.0.1:0" }
        var bad = test.gateway.configuration
        bad.stampHeaders = StampedHeaders([])
        bad.retry.maxAttempts = 0
        #expect(throws: ConfigurationError.self) { try test.gateway.reload { bad } }
        #expect(throws: ConfigurationError.self) {
            try test.gateway.reload { throw ConfigurationError("sluice.yaml: not valid YAML") }
        }
        #expect(test.gateway.configuration.stampHeaders == .all, "nothing of the bad file applied")
        let config = try #require(test.gateway.stats().config)
        #expect(config.generation == 1 && config.reloadsFailed == 2 && config.reloadsApplied == 0)
        #expect(config.lastReloadResult == "failed")
        #expect(config.lastReloadError?.contains("not valid YAML") == true)

        // Still serving on the old configuration.
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try expectAck(client, [playerRecord(topic: "reload.bad", player: "p", sequence: 0)])
        let samples = try parsePrometheusText(
            httpGet(port: try #require(test.gateway.metricsPort), path: "/metrics").body)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(value("sluice_config_reloads_total", ["result": "failed"]) == 2)
        #expect(value("sluice_config_reloads_total", ["result": "applied"]) == 0)
        #expect(value("sluice_config_generation") == 1)
        #expect(value("sluice_config_last_reload_success") == 0)
    }

    @Test func settingsThatNeedARestartAreReportedAndKept() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers)
        var next = test.gateway.configuration
        next.socketPath = test.directory + "/other.sock"
        next.spoolMaxBytes = 1 << 20
        next.limits.maxConnections = 3
        let report = try test.gateway.reload { next }
        #expect(report.needRestart.sorted() == ["socket", "spool.max-bytes"])
        #expect(report.applied == ["limits"])
        #expect(test.gateway.configuration.socketPath == test.socketPath)
        #expect(test.gateway.configuration.limits.maxConnections == 3)
        #expect(try RawClient.handshaken(socketPath: test.socketPath).staysQuiet(for: 0.05))
    }

    @Test func aConnectionWhoseUIDIsNoLongerAllowedIsClosedWithNotPermitted() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers) { $0.access.allowedUIDs = [getuid()] }
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try expectAck(client, [playerRecord(topic: "reload.revoked", player: "p", sequence: 0)])
        var next = test.gateway.configuration
        next.access.allowedUIDs = [getuid() &+ 1]
        _ = try test.gateway.reload { next }
        // Its batches are settled (the same path as a shutdown's SHUTTING_DOWN), then the farewell.
        guard case .error(let error) = try client.read(timeout: 10) else { throw TestFailure("expected ERROR") }
        #expect(error.code == .notPermitted)
        #expect(client.closedByServer())
        // New connections are refused too.
        let refused = try RawClient(socketPath: test.socketPath)
        #expect(refused.closedByServer())
    }

    private func expectAck(_ client: RawClient, _ records: [OutgoingRecord], failures: [ErrorCode] = []) throws {
        let id = try client.publish(records)
        let (replyID, reply) = try client.readFrame(timeout: 30)
        #expect(replyID == id)
        guard case .ack(let ack) = reply else { throw TestFailure("expected ACK, got \(reply)") }
        #expect(ack.failures.map(\.code) == failures)
    }
}

/// `sluice serve` reloaded by `sluice reload` and SIGHUP while a C client publishes.
@Suite("Reload of sluice serve under load, real broker", .serialized, .timeLimit(.minutes(3)))
struct ReloadUnderLoadTests {
    /// 10 reloads at 5,000 events/s, every other one replacing the producer (linger 5 ↔ 10 ms):
    /// the client sees no error, and an independent consumer finds nothing lost, duplicated or reordered.
    @Test func tenReloadsHalfReplacingTheProducerLoseDuplicateAndReorderNothing() throws {
        let broker = try DevBroker()
        let topic = "reload.load"
        try broker.createTopic(topic, partitions: 4)
        let gateway = try GatewayProcess(
            brokers: broker.bootstrapServers, configYAML: Self.yaml(linger: 5, interval: 60))
        let players = (0..<50).map { "player-\($0)" }
        let total = 150_000  // at most 30 s at 5,000 events/s: the load is stopped after the reloads
        let load = PacedCPublisher(
            socketPath: gateway.socketPath, topic: topic, players: players, total: total, eventsPerSecond: 5_000)
        for round in 1...10 {
            try waitUntil("the client publishes on before reload \(round)", timeout: 30) {
                load.published >= round * 1_500 || load.finished
            }
            #expect(!load.finished, "reload \(round) comes while the client publishes")
            // Odd rounds change the producer's linger; even ones only the retry interval.
            let yaml = Self.yaml(linger: (round + 1) / 2 % 2 == 1 ? 10 : 5, interval: 60 + round)
            try yaml.write(toFile: gateway.directory + "/sluice.yaml", atomically: false, encoding: .utf8)
            let reload = try run(try sluiceExecutable(), ["reload", "--socket", gateway.socketPath])
            #expect(reload.status == 0, "reload \(round): \(reload.output)")
            #expect(reload.output.contains("generation \(round + 1)"), "\(reload.output)")
            let replaced = reload.output.contains("kafka (producer settings)")
            #expect(replaced == (round % 2 == 1), "round \(round): \(reload.output)")
        }
        // A second more of load after the last reload, then the client stops after a whole round.
        let atLastReload = load.published
        try waitUntil("the client publishes a second after the last reload", timeout: 30) {
            load.published >= atLastReload + 5_000 || load.finished
        }
        load.stop()
        try waitUntil("the client stops and its flush returns", timeout: 90) { load.finished }
        #expect(load.failure == nil)
        let published = load.published
        #expect(published % players.count == 0 && published < total, "stopped after a round: \(published)")
        let records = try consume(topic: topic, brokers: broker.bootstrapServers, count: published)
        let count = DeliveryCount(records, players: players, sequences: published / players.count)
        #expect(count.lost == 0 && count.duplicates == 0 && count.reordered == 0, "\(count)")
        #expect(records.count == published, "read \(records.count) records, published \(published)")
        #expect(try gateway.stop() == 0)
    }

    /// SIGHUP reloads as `sluice reload` does; a bad file makes `sluice reload` exit 1 with the
    /// reason while the gateway keeps serving on the old configuration.
    @Test func sighupReloadsAndABadFileFailsTheCommandWithItsReason() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(
            brokers: broker.bootstrapServers, configYAML: Self.yaml(linger: 5, interval: 60))
        try Self.yaml(linger: 5, interval: 90).write(
            toFile: gateway.directory + "/sluice.yaml", atomically: false, encoding: .utf8)
        kill(gateway.pid, SIGHUP)
        try waitUntil("the gateway reports generation 2 after SIGHUP", timeout: 20) {
            try Self.config(gateway.socketPath)["generation"] as? Int == 2
        }
        try "kafka:\n  linger: soon\n".write(
            toFile: gateway.directory + "/sluice.yaml", atomically: false, encoding: .utf8)
        let refused = try run(try sluiceExecutable(), ["reload", "--socket", gateway.socketPath])
        #expect(refused.status == 1)
        #expect(refused.output.contains("linger"), "the reason names the setting: \(refused.output)")
        let config = try Self.config(gateway.socketPath)
        #expect(config["generation"] as? Int == 2)
        #expect(config["lastReloadResult"] as? String == "failed")
        #expect(gateway.process.isRunning)
        #expect(gateway.log.contains("reload failed"), "the gateway logs why")
        #expect(try gateway.stop() == 0)
    }

    /// `log.level` and `log.format` follow the file on reload, for every logger of the process.
    @Test func aReloadChangesTheLogLevelAndFormat() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(
            brokers: broker.bootstrapServers, configYAML: "log: { level: error }\n", logLevel: nil)
        let file = gateway.directory + "/sluice.yaml"
        try "log: { level: notice, format: json }\n".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(try run(try sluiceExecutable(), ["reload", "--socket", gateway.socketPath]).status == 0)
        #expect(!gateway.log.contains("configuration reloaded"), "at level error, a reload's notice is not logged")
        // The next reload's notice comes at the new level, in the new format.
        #expect(try run(try sluiceExecutable(), ["reload", "--socket", gateway.socketPath]).status == 0)
        let line = try #require(gateway.log.split(separator: "\n").first { $0.contains("configuration reloaded") })
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["level"] as? String == "notice", "\(line)")
        #expect((object?["message"] as? String)?.contains("generation 3") == true, "\(line)")
        #expect(try gateway.stop() == 0)
    }

    private static func yaml(linger: Int, interval: Int) -> String {
        "kafka:\n  linger: \(linger)ms\n  retry:\n    interval: \(interval)s\n"
    }

    private static func config(_ socketPath: String) throws -> [String: Any] {
        guard let config = try statsDocument(socketPath: socketPath).document["config"] as? [String: Any] else {
            throw TestFailure("no config in STATS")
        }
        return config
    }
}
