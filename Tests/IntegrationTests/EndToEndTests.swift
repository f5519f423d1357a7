import CSluiceClient
import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// 1,000 players × 10 events each, sent interleaved so each player's events span many batches.
let players = (0..<1_000).map { "player-\($0)" }
let sequences = 10
let partitions = 8

/// Everything between a client and Kafka is real here: the Tansu broker, the gateway on a
/// Unix socket, the C client library and the `sluice` executable.
@Suite("End to end against a real broker", .serialized, .timeLimit(.minutes(5)))
struct EndToEndTests {
    @Test func cClientPublishesInOrderOnJavaPartitions() throws {
        let broker = try DevBroker()
        try broker.createTopic("e2e.c-client", partitions: partitions)
        let gateway = try TestGateway(brokers: broker.bootstrapServers)

        var options = sluice_options()
        sluice_options_init(&options)
        options.compression = 1  // off by default; this path covers zstd frames end to end
        let client = try #require(sluice_connect(gateway.socketPath, &options))
        defer { sluice_close(client) }
        #expect(sluice_errcode(client) == 0, "connect: \(String(cString: sluice_errstr(client)))")

        let headerName = strdup("source")!
        let headerValue = Array("e2e".utf8)
        defer { free(headerName) }
        for sequence in 0..<sequences {
            for player in players {
                let value = Array("\(player):\(sequence)".utf8)
                let status = headerValue.withUnsafeBytes { headerBytes in
                    var headers = [sluice_header(name: headerName, value: headerBytes.baseAddress, value_len: 3)]
                    return sluice_publish(client, "e2e.c-client", player, value, value.count, &headers, 1)
                }
                guard status == SLUICE_OK else {
                    Issue.record("publish failed: \(String(cString: sluice_errstr(client)))")
                    return
                }
            }
        }
        let flushed = sluice_flush(client, 60_000)
        #expect(flushed == SLUICE_OK, "flush: \(String(cString: sluice_errstr(client)))")
        #expect(sluice_failed_records(client) == 0)

        let records = try consume(topic: "e2e.c-client", brokers: broker.bootstrapServers, count: 10_000)
        try verifyPlayerStreams(records, players: players, sequences: sequences, partitions: partitions)
        let eventIDs = Set(records.compactMap { $0.header("event-id") })
        #expect(eventIDs.count == 10_000, "every event has its own event-id header")
        #expect(eventIDs.allSatisfy { $0.count == 36 })
        #expect(records.allSatisfy { $0.header("source") == "e2e" }, "client headers are published")

        let stats = gateway.gateway.stats()
        #expect(stats.records.published == 10_000)
        #expect(stats.records.failed == 0)

        let json = try #require(sluice_stats(client, 5_000))
        defer { sluice_free(json) }
        #expect(String(cString: json).contains("\"published\":10000"))
    }

    @Test func sluiceSendPublishesInOrderOnJavaPartitions() throws {
        let broker = try DevBroker()
        try broker.createTopic("e2e.send", partitions: partitions)
        let gateway = try TestGateway(brokers: broker.bootstrapServers)
        var input = ""
        for sequence in 0..<sequences {
            for player in players { input += "\(player)\t\(player):\(sequence)\n" }
        }
        let result = try run(
            try sluiceExecutable(), ["send", "--socket", gateway.socketPath, "--topic", "e2e.send"],
            input: Data(input.utf8))
        #expect(result.status == 0, "sluice send: \(result.output)")
        #expect(result.output.contains("sent 10000 events, 10000 acknowledged"))

        let records = try consume(topic: "e2e.send", brokers: broker.bootstrapServers, count: 10_000)
        try verifyPlayerStreams(records, players: players, sequences: sequences, partitions: partitions)
    }

    @Test func sluiceSendReportsErrorsWithNonZeroExit() throws {
        let broker = try DevBroker()
        let gateway = try TestGateway(brokers: broker.bootstrapServers)
        let sluice = try sluiceExecutable()

        let badTopic = try run(sluice, ["send", "--socket", gateway.socketPath, "--topic", "no spaces"], input: Data())
        #expect(badTopic.status != 0)
        #expect(badTopic.output.contains("invalid topic"))

        let noTab = try run(
            sluice, ["send", "--socket", gateway.socketPath, "--topic", "partial"],
            input: Data(("good\tline\n" + "just a value\n").utf8))
        #expect(noTab.status != 0)
        #expect(noTab.output.contains("line 2: expected KEY<TAB>VALUE; skipped"), "\(noTab.output)")
        #expect(noTab.output.contains("sent 1 events, 1 acknowledged"), "the good line was published")
        #expect(gateway.gateway.stats().records.received == 1, "a bad line is skipped, the stream goes on")

        // A record the gateway refuses is reported by its input line.
        let refused = try run(
            sluice, ["send", "--socket", gateway.socketPath, "--topic", "partial"],
            input: Data(("a\tone\n" + "b\t" + String(repeating: "x", count: 1_100_000) + "\n" + "c\tthree\n").utf8))
        #expect(refused.status != 0)
        #expect(refused.output.contains("line 2: RECORD_TOO_LARGE (22)"), "\(refused.output)")

        let noServer = try run(
            sluice, ["send", "--socket", gateway.directory + "/nobody.sock", "--topic", "t"],
            input: Data("k\tv\n".utf8))
        #expect(noServer.status != 0)
        #expect(noServer.output.contains("cannot connect"))
        #expect(noServer.output.contains("is `sluice serve` running"), "\(noServer.output)")
    }

    @Test func sluiceSendPublishesEachLineWhileStdinStaysOpen() throws {
        let broker = try DevBroker()
        let gateway = try TestGateway(brokers: broker.bootstrapServers)
        let send = Process()
        send.executableURL = URL(fileURLWithPath: try sluiceExecutable())
        send.arguments = ["send", "--socket", gateway.socketPath, "--topic", "streamed", "--linger", "50ms"]
        let input = Pipe()
        let output = Pipe()
        send.standardInput = input
        send.standardOutput = output
        send.standardError = output
        try send.run()
        defer { if send.isRunning { send.terminate() } }
        // As `tail -F` would: a line, then nothing more for a while, stdin still open.
        input.fileHandleForWriting.write(Data("p1\tfirst\n".utf8))
        try waitUntil("the first line reaches Kafka while sluice send still reads", timeout: 20) {
            gateway.gateway.stats().records.published == 1
        }
        #expect(send.isRunning)
        input.fileHandleForWriting.write(Data("p1\tsec".utf8))
        input.fileHandleForWriting.write(Data("ond\n".utf8))
        try waitUntil("a line split over two writes is published", timeout: 20) {
            gateway.gateway.stats().records.published == 2
        }
        try input.fileHandleForWriting.close()
        send.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(send.terminationStatus == 0, "\(text)")
        #expect(text.contains("sent 2 events, 2 acknowledged"))
        let records = try consume(topic: "streamed", brokers: broker.bootstrapServers, count: 2)
        #expect(records.map { String(decoding: $0.value, as: UTF8.self) } == ["first", "second"])
    }

    @Test func statsCommandPrintsJSONAndATable() throws {
        let broker = try DevBroker()
        let gateway = try TestGateway(brokers: broker.bootstrapServers)
        let sluice = try sluiceExecutable()
        let send = try run(
            sluice, ["send", "--socket", gateway.socketPath, "--topic", "stats.t"],
            input: Data("a\t1\nb\t2\nc\t3\n".utf8))
        #expect(send.status == 0, "\(send.output)")

        let json = try run(sluice, ["stats", "--socket", gateway.socketPath, "--json"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let records = try #require(object?["records"] as? [String: Any])
        #expect(records["published"] as? Int == 3)
        #expect(records["received"] as? Int == 3)
        #expect((object?["kafka"] as? [String: Any])?["queueDepth"] as? Int == 0)
        #expect(object?["uptimeSeconds"] is Double)

        let table = try run(sluice, ["stats", "--socket", gateway.socketPath])
        #expect(table.status == 0)
        #expect(
            table.output.split(separator: "\n").contains { $0.hasPrefix("records.published") && $0.hasSuffix(" 3") })
        #expect(
            table.output.split(separator: "\n").contains {
                $0.hasPrefix("publisher.storeFailures") && $0.hasSuffix(" true")
            })
    }

    @Test func serveExitsCleanlyOnSIGTERMAfterDelivering() throws {
        let broker = try DevBroker()
        try broker.createTopic("e2e.sigterm", partitions: 2)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/s.sock"
        let sluice = try sluiceExecutable()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: sluice)
        server.arguments = [
            "serve", "--socket", socketPath, "--brokers", broker.bootstrapServers, "--spool", directory + "/spool.db",
        ]
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        try waitUntil("the gateway serves its socket", timeout: 10) {
            (try? RawClient.handshaken(socketPath: socketPath)) != nil
        }

        let send = try run(
            sluice, ["send", "--socket", socketPath, "--topic", "e2e.sigterm", "--ack", "accepted"],
            input: Data((0..<500).map { "k\($0 % 7)\tk\($0 % 7):\($0 / 7)\n" }.joined().utf8))
        #expect(send.status == 0, "\(send.output)")
        kill(server.processIdentifier, SIGTERM)
        try waitUntil("sluice serve exits after SIGTERM", timeout: 15) { !server.isRunning }
        #expect(server.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the socket file is removed on shutdown")
        // Accepted (not yet durable) events were flushed to Kafka before exit.
        let records = try consume(topic: "e2e.sigterm", brokers: broker.bootstrapServers, count: 500)
        #expect(records.count == 500)
    }
}
