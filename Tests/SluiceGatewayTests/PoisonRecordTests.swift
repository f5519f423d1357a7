import Foundation
import MetricsTestKit
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

@Suite("Records the broker refuses as too large (mock cluster)", .serialized, .timeLimit(.minutes(2)))
struct PoisonRecordTests {
    @Test func tooLargeForTheBrokerTakesTheDeadLetterPathAtOnceAndIsCounted() throws {
        let clock = ManualClock()
        let metrics = TestMetrics()
        let test = try faultGateway(clock: clock, metrics: metrics)
        let gateway = test.gateway
        let mock = try #require(test.mockCluster)
        mock.createTopic("big", partitions: 1)
        mock.createTopic("big.dlq", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "big", player: "warmup", sequence: 0)])

        // MESSAGE_TOO_LARGE (10) from the broker, for the record and for its one re-send.
        mock.failProduceRequests(count: 2, code: 10)
        let ack = try publishAndAwaitAck(client, [playerRecord(topic: "big", player: "p", sequence: 1)])
        #expect(ack.failures.isEmpty, "acked once it is in the spool")
        let rows = try SpoolInspector(path: test.directory + "/spool.db").all()
        let row = try #require(rows.first { $0.key == "p" })
        #expect(row.attempts == 1 && row.status == "PENDING")

        // Due at once (no backoff): the next round re-sends it, and a second refusal dead-letters it.
        gateway.retrySpoolNow()
        let after = try #require(try SpoolInspector(path: test.directory + "/spool.db").all().first { $0.key == "p" })
        #expect(after.status == "DLQ", "too large is never retried with backoff")
        #expect(after.attempts == 3, "counted as the attempts it used up: max-attempts")

        let dead = try consume(topic: "big.dlq", brokers: mock.bootstrapServers, count: 1)
        #expect(dead[0].header("dlq-original-topic") == "big")
        #expect(dead[0].header("dlq-error")?.lowercased().contains("too large") == true)
        #expect(try metrics.expectCounter("kafka.dlq.sent").totalValue == 1)

        let stats = gateway.stats()
        let balance = try #require(stats.topics["big"])
        #expect(balance.received == 2 && balance.published == 1 && balance.dlq == 1)
        #expect(
            balance.received == balance.published + balance.pending + balance.dlq + balance.dropped + balance.rejected)
        #expect(stats.retry.dlq == 1)
    }
}
