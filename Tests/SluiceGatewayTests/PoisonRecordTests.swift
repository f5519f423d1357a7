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
        // MESSAGE_TOO_LARGE (10) from the broker, for the record and for its one re-send.
        let refused = try RefusedRecord(topic: "big", refusals: 2, code: 10, sequence: 1)
        let (metrics, test) = (refused.metrics, refused.test)
        let gateway = test.gateway
        let mock = try #require(test.mockCluster)
        #expect(refused.ack.failures.isEmpty, "acked once it is in the spool")
        #expect(try refused.row() == (1, "PENDING"))

        // Due at once (no backoff): the next round re-sends it, and a second refusal dead-letters it.
        gateway.retrySpoolNow()
        let after = try refused.row()
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
