import Foundation
import SluiceGateway
import SluiceKafkaForTesting
import SluiceProtocol
import SluiceSystem
import SluiceTestSupport
import Testing

/// A gateway whose producer talks to librdkafka's in-process mock cluster.
func mockGateway(_ configure: (inout GatewayConfiguration) -> Void = { _ in }) throws -> TestGateway {
    try TestGateway(mockCluster: KafkaMockCluster()) { configuration in
        configuration.stallTimeoutMilliseconds = 3_600_000
        configure(&configuration)
    }
}

@Suite("Gateway over a real Unix socket, Kafka mocked", .timeLimit(.minutes(2)))
struct GatewayProtocolTests {
    @Test func handshakePingAndStats() throws {
        let gateway = try mockGateway()
        let client = try RawClient(socketPath: gateway.socketPath)
        try client.send(Hello(clientName: "test").frame(requestID: 1))
        guard case .helloOK(let ok) = try client.read() else {
            Issue.record("expected HELLO_OK")
            return
        }
        #expect(ok.version == 1)
        #expect(ok.limits == GatewayConfiguration().limits, "HELLO_OK announces the configured limits")
        #expect(ok.limits.maxUnackedBytes == 16 << 20)
        #expect(ok.serverName == "sluice/\(sluiceVersion)")

        try client.send(Frame(.ping, requestID: 5, payload: Array("hi".utf8)))
        let (id, pong) = try client.readFrame()
        #expect(id == 5)
        #expect(pong == .pong(Array("hi".utf8)))

        try client.send(Frame(.stats, requestID: 6, payload: []))
        guard case .statsReply(let json) = try client.read() else {
            Issue.record("expected STATS_REPLY")
            return
        }
        let stats = try JSONDecoder().decode(StatsSnapshot.self, from: Data(json.utf8))
        #expect(stats.connections.current == 1)
        #expect(stats.frames.received == 3)
        #expect(stats.kafka.brokers == gateway.mockCluster?.bootstrapServers)
    }

    @Test func durablePublishIsAckedWithPerRecordFailures() throws {
        let gateway = try mockGateway()
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        let records = [
            playerRecord(topic: "events", player: "p1", sequence: 0),
            playerRecord(topic: "bad topic", player: "p1", sequence: 1),
            OutgoingRecord(topic: "events", key: [], value: [1]),
            playerRecord(topic: "events", player: "p2", sequence: 0),
        ]
        let id = try client.publish(records)
        let (replyID, reply) = try client.readFrame(timeout: 30)
        #expect(replyID == id)
        #expect(
            reply
                == .ack(
                    Ack(
                        recordCount: 4,
                        failures: [
                            RecordFailure(index: 1, code: .invalidTopic), RecordFailure(index: 2, code: .invalidKey),
                        ]
                    )))
        let stats = gateway.gateway.stats()
        #expect(stats.records.received == 4)
        #expect(stats.records.invalid == 2)
        #expect(stats.records.published == 2)
        #expect(stats.errors == ["INVALID_TOPIC": 1, "INVALID_KEY": 1])
    }

    @Test func closingErrorsCloseAndOthersKeepTheConnection() throws {
        let gateway = try mockGateway()
        // A non-closing error: the connection keeps serving.
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        try client.send(
            Frame(.publish, requestID: 9, flags: FrameHeader.compressedFlag, payload: Array("garbage".utf8)))
        guard case .error(let error) = try client.read() else {
            Issue.record("expected ERROR")
            return
        }
        #expect(error.code == .badCompression)
        #expect(!error.closing)
        try client.send(Frame(.ping, requestID: 10, payload: []))
        #expect(try client.read() == .pong([]))

        // A closing error: ERROR, then the server hangs up.
        let bad = try RawClient(socketPath: gateway.socketPath)
        try bad.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        guard case .error(let magic) = try bad.read() else {
            Issue.record("expected ERROR")
            return
        }
        #expect(magic.code == .badMagic)
        #expect(magic.closing)
        #expect(bad.closedByServer())

        // Skipping the handshake is a closing error too.
        let rude = try RawClient(socketPath: gateway.socketPath)
        try rude.send(Frame(.ping, requestID: 3, payload: []))
        guard case .error(let state) = try rude.read() else {
            Issue.record("expected ERROR")
            return
        }
        #expect(state.code == .protocolState)
        #expect(rude.closedByServer())

        // The first client is unaffected by the others.
        try client.send(Frame(.ping, requestID: 11, payload: []))
        #expect(try client.read() == .pong([]))
        #expect(gateway.gateway.stats().errors["BAD_MAGIC"] == 1)
        #expect(gateway.gateway.stats().frames.rejected == 3)
    }

    @Test func ackLevels() throws {
        // Kafka unreachable: `accepted` still acks at once, `none` stays silent.
        let gateway = try TestGateway(brokers: "127.0.0.1:1") { $0.producer.deliveryTimeoutMilliseconds = 60_000 }
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        let accepted = try client.publish([playerRecord(topic: "events", player: "p", sequence: 0)], ack: .accepted)
        let (id, reply) = try client.readFrame(timeout: 5)
        #expect(id == accepted)
        #expect(reply == .ack(Ack(recordCount: 1, failures: [])))
        try client.publish([playerRecord(topic: "events", player: "p", sequence: 1)], ack: .none)
        #expect(client.staysQuiet(for: 0.3))
        try client.send(Frame(.ping, requestID: 77, payload: []))
        #expect(try client.readFrame().0 == 77)
    }

    @Test func withStoreFailuresOffAFailedDeliveryComesBackAsARetriableCode() throws {
        let gateway = try TestGateway(brokers: "127.0.0.1:1") {
            $0.producer.deliveryTimeoutMilliseconds = 500
            $0.storeFailures = false
        }
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        try client.publish((0..<3).map { playerRecord(topic: "events", player: "p", sequence: $0) })
        guard case .ack(let ack) = try client.read(timeout: 20) else {
            Issue.record("expected ACK")
            return
        }
        #expect(ack.recordCount == 3)
        #expect(ack.failures.map(\.code) == [.deliveryFailed, .deliveryFailed, .deliveryFailed])
        #expect(ErrorCode.deliveryFailed.isRetriable)
        #expect(gateway.gateway.stats().records.received == 3)
        #expect(gateway.gateway.stats().topics["events"]?.dropped == 3, "every dropped event is counted")
        #expect(gateway.gateway.stats().publisher.storeFailures == false)
    }

    @Test func manyConcurrentClients() async throws {
        let gateway = try mockGateway()
        let path = gateway.socketPath
        try await withThrowingTaskGroup(of: Int.self) { group in
            for clientNumber in 0..<16 {
                group.addTask {
                    let client = try RawClient.handshaken(socketPath: path)
                    var acked = 0
                    for batch in 0..<10 {
                        let records = (0..<50).map {
                            playerRecord(topic: "many", player: "c\(clientNumber)-\($0)", sequence: batch)
                        }
                        let id = try client.publish(records)
                        let (replyID, reply) = try client.readFrame(timeout: 30)
                        guard replyID == id, case .ack(let ack) = reply, ack.failures.isEmpty else {
                            throw TestFailure("client \(clientNumber) got \(reply) for \(replyID)")
                        }
                        acked += Int(ack.recordCount)
                    }
                    return acked
                }
            }
            var total = 0
            for try await acked in group { total += acked }
            #expect(total == 16 * 10 * 50)
        }
        #expect(gateway.gateway.stats().records.published == 8_000)
        #expect(gateway.gateway.stats().connections.total == 16)
    }
}

@Suite("The socket file", .timeLimit(.minutes(1)))
struct SocketFileTests {
    @Test func staleSocketIsReplacedLiveOneIsNot() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/s.sock"
        // A socket file nobody listens on, as a killed process leaves it.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(UnixSocketAddress(path)?.withSockaddr { bind(stale, $0, $1) } == 0)
        close(stale)
        #expect(FileManager.default.fileExists(atPath: path))

        let first = try mockGateway { $0.socketPath = path }
        _ = try RawClient.handshaken(socketPath: path)

        #expect(throws: ConfigurationError.self, "a live gateway's socket must not be stolen") {
            _ = try mockGateway { $0.socketPath = path }
        }
        _ = try RawClient.handshaken(socketPath: path)
        withExtendedLifetime(first) {}
    }

    @Test func refusesToReplaceARegularFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/not-a-socket"
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        #expect(throws: ConfigurationError.self) { _ = try mockGateway { $0.socketPath = path } }
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
    }

    @Test func theSocketLivesUnderRunInADirectoryOnlyItsGroupCanEnter() throws {
        #expect(GatewayConfiguration().socketPath == "/run/sluice/sluice.sock")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = try mockGateway { $0.socketPath = directory + "/run/sluice/s.sock" }
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/run/sluice")
        #expect((attributes[.posixPermissions] as? Int) == 0o750, "a missing socket directory is created 0750")
        _ = try RawClient.handshaken(socketPath: gateway.socketPath)
    }

    @Test func socketModeIsApplied() throws {
        let gateway = try mockGateway { $0.socketMode = 0o600 }
        let attributes = try FileManager.default.attributesOfItem(atPath: gateway.socketPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}
