import Foundation
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The first frame the gateway sends on a fresh connection, expected to be a closing ERROR.
func expectRefusal(_ path: String, _ code: ErrorCode, sendHello: Bool = false) throws {
    let client = try RawClient(socketPath: path)
    if sendHello { try client.send(Hello(clientName: "t").frame(requestID: 1)) }
    guard case .error(let error) = try client.read(timeout: 5) else {
        throw TestFailure("expected ERROR \(code)")
    }
    #expect(error.code == code)
    #expect(error.closing)
    #expect(client.closedByServer(), "the gateway hangs up after \(code)")
}

@Suite("Access control and connection limits", .timeLimit(.minutes(2)))
struct AccessAndLimitsTests {
    @Test func uidAndGidAllowLists() throws {
        let refused = try mockGateway { $0.access.allowedUIDs = [getuid() &+ 1] }
        try expectRefusal(refused.socketPath, .notPermitted)
        #expect(refused.gateway.stats().errors["NOT_PERMITTED"] == 1)
        #expect(refused.gateway.stats().connections.total == 0)

        let byUID = try mockGateway { $0.access.allowedUIDs = [getuid()] }
        _ = try RawClient.handshaken(socketPath: byUID.socketPath)

        let byGID = try mockGateway {
            $0.access.allowedUIDs = [getuid() &+ 1]
            $0.access.allowedGIDs = [getgid()]
        }
        _ = try RawClient.handshaken(socketPath: byGID.socketPath)
    }

    @Test func topicPrefixesPerUID() throws {
        let gateway = try mockGateway { $0.access.topicPrefixesByUID = [getuid(): ["team-a.", "shared"]] }
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        let ack = try publishAndAwaitAck(
            client,
            [
                playerRecord(topic: "team-a.events", player: "p", sequence: 0),
                playerRecord(topic: "team-b.events", player: "p", sequence: 1),
                playerRecord(topic: "shared", player: "p", sequence: 2),
            ])
        #expect(ack.failures == [RecordFailure(index: 1, code: .topicNotAllowed)])
        #expect(gateway.gateway.stats().errors["TOPIC_NOT_ALLOWED"] == 1)
    }

    @Test func everyRecordNamesItsPublisher() throws {
        let test = try mockGateway()
        let mock = try #require(test.mockCluster)
        mock.createTopic("stamped", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "stamped", player: "p", sequence: 0)])
        let record = try #require(try consume(topic: "stamped", brokers: mock.bootstrapServers, count: 1).first)
        #expect(record.header("sluice-uid") == String(getuid()), "\(record.headers.map(\.name))")
        #expect(record.header("sluice-pid") == String(getpid()))
    }

    @Test func socketGroupIsApplied() throws {
        let gateway = try mockGateway { $0.access.socketGroup = String(getgid()) }
        var status = stat()
        #expect(stat(gateway.socketPath, &status) == 0)
        #expect(status.st_gid == getgid())
        let spool = gateway.directory + "/spool.db"
        for file in [spool, spool + "-wal", spool + "-shm", spool + ".lock"] {
            #expect(stat(file, &status) == 0, "\(file) exists")
            #expect(status.st_mode & 0o777 == 0o640, "with a socket group the spool files are 0640: \(file)")
        }
        #expect(throws: ConfigurationError.self) {
            _ = try mockGateway { $0.access.socketGroup = "no-such-group-sluice" }
        }
    }

    @Test func connectionLimit() throws {
        let gateway = try mockGateway { $0.limits.maxConnections = 2 }
        let first = try RawClient.handshaken(socketPath: gateway.socketPath)
        let second = try RawClient.handshaken(socketPath: gateway.socketPath)
        try expectRefusal(gateway.socketPath, .tooManyConnections)
        #expect(ErrorCode.tooManyConnections.isRetriable)
        try first.send(Frame(.ping, requestID: 9, payload: []))
        #expect(try first.read() == .pong([]), "those already in are served")
        withExtendedLifetime(second) {}
    }

    @Test func handshakeAndIdleTimeouts() throws {
        let gateway = try mockGateway {
            $0.limits.handshakeTimeoutMilliseconds = 200
            $0.limits.idleTimeoutMilliseconds = 700
        }
        let started = Date()
        try expectRefusal(gateway.socketPath, .timedOut)
        #expect(Date().timeIntervalSince(started) < 3)

        let idle = try RawClient.handshaken(socketPath: gateway.socketPath)
        guard case .error(let error) = try idle.read(timeout: 5) else {
            Issue.record("expected TIMED_OUT for an idle connection")
            return
        }
        #expect(error.code == .timedOut && error.closing)
        #expect(gateway.gateway.stats().errors["TIMED_OUT"] == 2)
    }

    @Test func helloOKAnnouncesTheSessionLimits() throws {
        let gateway = try mockGateway {
            $0.limits.maxUnackedBytes = 2_000_000
            $0.limits.idleTimeoutMilliseconds = 0
        }
        let client = try RawClient(socketPath: gateway.socketPath)
        try client.send(Hello(clientName: "t").frame(requestID: 1))
        guard case .helloOK(let ok) = try client.read() else {
            Issue.record("expected HELLO_OK")
            return
        }
        #expect(ok.limits.maxUnackedBytes == 2_000_000)
        #expect(ok.limits.handshakeTimeoutMilliseconds == 5_000)
        #expect(ok.limits.idleTimeoutMilliseconds == 0)
        #expect(ok.limits.maxConnections == 1_024)
    }

    @Test func aClientOverItsUnackedQuotaWaitsAloneAndNothingIsLost() throws {
        let test = try mockGateway {
            $0.limits.maxFrameBytes = 65_536
            $0.limits.maxUnackedBytes = 65_536
            $0.stallTimeoutMilliseconds = 60_000
        }
        let mock = try #require(test.mockCluster)
        mock.createTopic("quota", partitions: 1)
        let greedy = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(greedy, [playerRecord(topic: "quota", player: "w", sequence: 0)])
        mock.setRoundTripTime(broker: 1, milliseconds: 1_500)

        // 12 uncompressed batches of ~30 KB: far past a 64 KB quota while Kafka is slow.
        var ids: Set<UInt32> = []
        for batch in 0..<12 {
            let records = (0..<30).map {
                OutgoingRecord(
                    topic: "quota", key: Array("p\($0)".utf8), value: Array(repeating: UInt8(batch), count: 1_000))
            }
            let id = greedy.takeID()
            try greedy.send(
                Frame(.publish, requestID: id, payload: OutgoingRecord.encodePayload(records, ackLevel: .durable)))
            ids.insert(id)
        }
        try waitUntil("the gateway has read up to its quota", timeout: 5) {
            test.gateway.stats().frames.received >= 4
        }
        let received = test.gateway.stats().frames.received
        #expect(received < 2 + 12, "past its quota the connection is not read (read \(received) frames)")

        // Another client is served at once meanwhile.
        let other = try RawClient.handshaken(socketPath: test.socketPath)
        let pinged = Date()
        try other.send(Frame(.ping, requestID: 1, payload: []))
        #expect(try other.read(timeout: 2) == .pong([]))
        #expect(Date().timeIntervalSince(pinged) < 1)

        mock.setRoundTripTime(broker: 1, milliseconds: 0)
        while !ids.isEmpty {
            let (id, reply) = try greedy.readFrame(timeout: 30)
            guard case .ack(let ack) = reply, ids.remove(id) != nil, ack.failures.isEmpty else {
                throw TestFailure("unexpected \(reply)")
            }
        }
        #expect(test.gateway.stats().records.published == 1 + 12 * 30)
    }
}
