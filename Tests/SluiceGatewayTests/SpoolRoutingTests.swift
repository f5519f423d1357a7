import Foundation
import MetricsTestKit
import SluiceGateway
import SluiceKafka
import SluiceKafkaForTesting
import SluiceProtocol
import SluiceTestSupport
import Testing

/// A gateway on librdkafka's mock cluster with an injected clock, settings made for quick tests.
func faultGateway(
    clock: ManualClock, metrics: TestMetrics? = nil, _ configure: (inout GatewayConfiguration) -> Void = { _ in }
) throws -> TestGateway {
    try TestGateway(mockCluster: KafkaMockCluster(), clock: clock, metrics: metrics) { configuration in
        configuration.producer.deliveryTimeoutMilliseconds = 1_000
        configuration.circuitBreaker.waitDurationInOpenStateMilliseconds = 60_000
        configuration.circuitBreaker.minimumNumberOfCalls = 1
        configuration.circuitBreaker.permittedCallsInHalfOpenState = 1
        configuration.retry.intervalMilliseconds = 3_600_000  // rounds only when the test runs them
        // The circuit opens only when a test makes it: no stall detection on a loaded CI machine.
        configuration.stallTimeoutMilliseconds = 3_600_000
        configure(&configuration)
    }
}

func publishAndAwaitAck(_ client: RawClient, _ records: [OutgoingRecord], timeout: Double = 20) throws -> Ack {
    let id = try client.publish(records)
    let (replyID, reply) = try client.readFrame(timeout: timeout)
    guard replyID == id, case .ack(let ack) = reply else { throw TestFailure("expected ACK \(id), got \(reply)") }
    return ack
}

/// A fault gateway with `topic` and `topic.dlq`, after one delivered record, whose broker
/// then refuses `refusals` produce requests with Kafka error `code` while record `p:sequence`
/// is published into them.
struct RefusedRecord {
    let clock = ManualClock()
    let metrics = TestMetrics()
    let test: TestGateway
    let ack: Ack

    init(topic: String, refusals: Int, code: Int32, sequence: Int) throws {
        test = try faultGateway(clock: clock, metrics: metrics)
        let mock = try #require(test.mockCluster)
        mock.createTopic(topic, partitions: 1)
        mock.createTopic(topic + ".dlq", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: topic, player: "warmup", sequence: 0)])
        mock.failProduceRequests(count: refusals, code: code)
        ack = try publishAndAwaitAck(client, [playerRecord(topic: topic, player: "p", sequence: sequence)])
    }

    /// The spooled record's attempts and status.
    func row() throws -> (attempts: Int, status: String) {
        let row = try #require(try SpoolInspector(path: test.directory + "/spool.db").all().first { $0.key == "p" })
        return (row.attempts, row.status)
    }
}

/// Takes the mock broker down and publishes `probe` until the circuit is OPEN.
func takeBrokerDownUntilOpen(_ test: TestGateway, _ client: RawClient, probe: OutgoingRecord) throws {
    let mock = try #require(test.mockCluster)
    mock.setBroker(1, up: false)
    try waitUntil("the circuit opens", timeout: 10) {
        _ = try? publishAndAwaitAck(client, [probe])
        return test.gateway.circuitState == .open
    }
}

/// Spools `record` behind an open circuit, restarts the gateway on the same spool (changed by
/// `configure`), creates `topic` and waits until the spool has drained into it.
func spoolThenRestartAndDrain(
    _ record: OutgoingRecord, topic: String, clock: ManualClock, directory: String,
    configure: (inout GatewayConfiguration) -> Void = { _ in }
) throws -> TestGateway {
    do {
        let test = try faultGateway(clock: clock) { $0.spoolPath = directory + "/spool.db" }
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try takeBrokerDownUntilOpen(test, client, probe: playerRecord(topic: "probe", player: "x", sequence: 0))
        #expect(try publishAndAwaitAck(client, [record]).failures.isEmpty)
        #expect(test.gateway.stats().retry.pending >= 1)
        test.stop()
    }
    let test = try faultGateway(clock: clock) {
        $0.spoolPath = directory + "/spool.db"
        configure(&$0)
    }
    try #require(test.mockCluster).createTopic(topic, partitions: 1)
    try waitUntil("the spool drains", timeout: 30) {
        test.gateway.retrySpoolNow()
        return test.gateway.stats().retry.pending == 0
    }
    return test
}

@Suite("Spool, circuit breaker and retries (mock cluster, injected clock)", .serialized, .timeLimit(.minutes(3)))
struct SpoolRoutingTests {
    @Test func brokerRejectionsCountAttemptsWithBackoffThenDeadLetter() throws {
        // INVALID_RECORD (87): the broker refuses this record, three times over.
        let refused = try RefusedRecord(topic: "poison", refusals: 3, code: 87, sequence: 0)
        let (clock, metrics, test) = (refused.clock, refused.metrics, refused.test)
        let gateway = test.gateway
        let mock = try #require(test.mockCluster)
        #expect(refused.ack.failures.isEmpty, "a rejected record is acked once it is in the spool")
        func record() throws -> (attempts: Int, status: String) { try refused.row() }
        #expect(try record() == (1, "PENDING"))
        #expect(gateway.circuitState == .closed, "a rejected record is no sign of an outage")

        gateway.retrySpoolNow()
        #expect(try record() == (1, "PENDING"), "not due before its 1-minute backoff")
        clock.advance(by: 60_000)
        gateway.retrySpoolNow()
        #expect(try record() == (2, "PENDING"))
        clock.advance(by: 4 * 60_000)
        gateway.retrySpoolNow()
        #expect(try record() == (2, "PENDING"), "the second backoff is 5 minutes")
        clock.advance(by: 60_000)
        gateway.retrySpoolNow()
        #expect(try record() == (3, "DLQ"))
        #expect(gateway.stats().retry.dlq == 1)

        let dead = try consume(topic: "poison.dlq", brokers: mock.bootstrapServers, count: 1)
        #expect(dead[0].header("dlq-original-topic") == "poison")
        #expect(dead[0].header("dlq-attempts") == "3")
        #expect(dead[0].header("dlq-original-key") == "p")
        #expect(dead[0].header("dlq-client")?.contains("uid=") == true)
        #expect(dead[0].header("dlq-error")?.isEmpty == false)
        #expect(dead[0].header("event-id")?.count == 36)
        #expect(String(decoding: dead[0].value, as: UTF8.self) == "p:0")

        #expect(try metrics.expectCounter("kafka.events.stored_for_retry").totalValue == 1)
        #expect(try metrics.expectCounter("kafka.dlq.sent").totalValue == 1)
        #expect(try metrics.expectCounter("kafka.events.published", [("status", "success")]).totalValue == 1)
        #expect(try metrics.expectTimer("kafka.publish.latency").values.count == 2, "one per acked batch")
    }

    @Test func aFailedDeadLetterStaysAsDLQFailed() throws {
        let clock = ManualClock()
        let test = try faultGateway(clock: clock) { $0.retry.maxAttempts = 1 }
        let gateway = test.gateway
        let mock = try #require(test.mockCluster)
        mock.createTopic("poison2", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "poison2", player: "warmup", sequence: 0)])
        mock.failProduceRequests(count: 3, code: 87)  // the publish, then the DLQ publish fails too
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "poison2", player: "p", sequence: 0)])
        clock.advance(by: 60_000)
        gateway.retrySpoolNow()
        let rows = try SpoolInspector(path: test.directory + "/spool.db").all()
        #expect(rows.first { $0.key == "p" }?.status == "DLQ_FAILED")
        #expect(gateway.stats().retry.dlqFailed == 1)
    }

    @Test func spoolAtItsCapAnswersOverloaded() throws {
        let clock = ManualClock()
        let metrics = TestMetrics()
        let test = try faultGateway(clock: clock, metrics: metrics) { $0.spoolMaxBytes = 2_000 }
        let gateway = test.gateway
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try takeBrokerDownUntilOpen(test, client, probe: playerRecord(topic: "cap", player: "probe", sequence: 0))
        var overloaded = 0
        for round in 0..<20 {
            let ack = try publishAndAwaitAck(client, [playerRecord(topic: "cap", player: "p\(round)", sequence: 0)])
            overloaded += ack.failures.filter { $0.code == .overloaded }.count
        }
        #expect(overloaded > 0, "past the cap publishers hear OVERLOADED")
        #expect(ErrorCode.overloaded.isRetriable)
        #expect(gateway.stats().errors["OVERLOADED"] == overloaded)
        #expect(try metrics.expectCounter("kafka.circuit_breaker.open").totalValue >= 1)
    }

    @Test func restartRecoversTheSpoolAndKeepsKeysBehindIt() throws {
        let clock = ManualClock()
        let metrics = TestMetrics()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let test = try faultGateway(clock: clock) { $0.spoolPath = directory + "/spool.db" }
            let mock = try #require(test.mockCluster)
            let client = try RawClient.handshaken(socketPath: test.socketPath)
            // The broker rejects the key's first record (INVALID_RECORD): it waits out a
            // 1-minute backoff in the spool, and the rest of the key queues behind it.
            mock.failProduceRequests(count: 1, code: 87)
            _ = try publishAndAwaitAck(client, [playerRecord(topic: "restart", player: "p", sequence: 0)])
            _ = try publishAndAwaitAck(
                client, (1..<10).map { playerRecord(topic: "restart", player: "p", sequence: $0) })
            #expect(test.gateway.stats().retry.pending == 10)
            test.stop()
        }
        let test = try faultGateway(clock: clock, metrics: metrics) { $0.spoolPath = directory + "/spool.db" }
        #expect(test.gateway.stats().retry.pending == 10, "the spool survived the restart")
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        // The key is still held (its head's backoff outlives the restart): new records queue
        // behind its spooled ones, not ahead, whatever the worker's first round did.
        _ = try publishAndAwaitAck(client, (10..<15).map { playerRecord(topic: "restart", player: "p", sequence: $0) })
        #expect(
            try metrics.expectCounter("kafka.events.stored_for_retry").totalValue == 5,
            "spooled behind the key's records")
        #expect(test.gateway.stats().retry.pending == 15, "nothing of the held key left the spool early")
        clock.advance(by: 60_000)
        try waitUntil("the spool drains", timeout: 30) {
            test.gateway.retrySpoolNow()
            return test.gateway.stats().retry.pending == 0
        }
        let mock = try #require(test.mockCluster)
        let records = try consume(topic: "restart", brokers: mock.bootstrapServers, count: 15)
        #expect(records.map { String(decoding: $0.value, as: UTF8.self) } == (0..<15).map { "p:\($0)" })
        #expect(try metrics.expectCounter("kafka.retry.success").totalValue == 15)
        #expect(try metrics.expectCounter("kafka.events.stored_for_retry").totalValue == 5)
    }
}

@Suite("Gateway start-up and backpressure", .timeLimit(.minutes(2)))
struct StartupAndBackpressureTests {
    @Test func refusesToStartOnAnUnreadableSpoolAndLeavesItAlone() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/spool.db"
        let garbage = Data((0..<16_384).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        #expect(FileManager.default.createFile(atPath: path, contents: garbage))
        #expect {
            _ = try mockGateway { $0.spoolPath = path }
        } throws: { error in
            "\(error)".contains("cannot open the spool")
        }
        #expect(
            FileManager.default.contents(atPath: path) == garbage, "the spool file is neither deleted nor rewritten")
    }

    @Test func twoGatewaysCannotShareASpool() throws {
        let first = try mockGateway()
        let spool = first.directory + "/spool.db"
        #expect {
            _ = try mockGateway { $0.spoolPath = spool }
        } throws: { error in
            "\(error)".contains("another gateway is using the spool")
        }
        first.stop()
        _ = try mockGateway { $0.spoolPath = spool }  // free once the first has stopped
    }

    @Test func aFullLibrdkafkaQueueSlowsPublishersInsteadOfFailingThem() throws {
        let gateway = try mockGateway { $0.producer.queueMaxMessages = 50 }
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        // One key waits in the spool (the broker refused its record once), so batches mix
        // spooled and direct records while the queue keeps filling up.
        let mock = try #require(gateway.mockCluster)
        mock.createTopic("bp", partitions: 4)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "bp", player: "warm", sequence: 0)])
        mock.failProduceRequests(count: 1, code: 87)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "bp", player: "p0", sequence: 999)])
        #expect(gateway.gateway.stats().retry.pending == 1)
        var ids: Set<UInt32> = []
        for batch in 0..<20 {
            ids.insert(
                try client.publish(
                    (0..<500).map { playerRecord(topic: "bp", player: "p\($0 % 50)", sequence: batch * 10 + $0 / 50) }))
        }
        var acked = 0
        while !ids.isEmpty {
            let (id, reply) = try client.readFrame(timeout: 60)
            guard case .ack(let ack) = reply, ids.remove(id) != nil else { throw TestFailure("unexpected \(reply)") }
            #expect(ack.failures.isEmpty)
            acked += Int(ack.recordCount)
        }
        #expect(acked == 10_000, "10,000 records through a 50-record librdkafka queue, none refused")
        #expect(gateway.gateway.stats().retry.pending == 1 + 200, "p0's records queued behind its spooled one")
        #expect(gateway.gateway.stats().records.published == 1 + 10_000 - 200)
    }
}
