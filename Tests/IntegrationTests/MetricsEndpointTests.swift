import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceTestSupport
import Testing

@Suite("/metrics and /healthz over HTTP, against the dev broker", .serialized, .timeLimit(.minutes(2)))
struct MetricsEndpointTests {
    @Test func scrapeParsesAndCountsWhatWasPublished() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers) { $0.metricsListen = "127.0.0.1:0" }
        let port = try #require(test.gateway.metricsPort)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let id = try client.publish((0..<25).map { playerRecord(topic: "scraped", player: "p\($0 % 5)", sequence: $0) })
        let (replyID, reply) = try client.readFrame(timeout: 30)
        #expect(replyID == id)
        guard case .ack(let ack) = reply else { throw TestFailure("expected ACK, got \(reply)") }
        #expect(ack.failures.isEmpty)

        let scrape = try httpGet(port: port, path: "/metrics")
        #expect(scrape.status == 200)
        let samples = try parsePrometheusText(scrape.body)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(value("kafka_events_published_total", ["status": "success"]) == 25)
        #expect(value("kafka_events_published_total", ["status": "error"]) == 0)
        #expect(samples.first { $0.name == "kafka_publish_latency_seconds_count" }?.type == "histogram")
        #expect((value("kafka_publish_latency_seconds_count") ?? 0) >= 1)
        for counter in [
            "kafka_circuit_breaker_open_total", "kafka_events_stored_for_retry_total", "kafka_retry_success_total",
            "kafka_dlq_sent_total",
        ] {
            #expect(value(counter) == 0, "\(counter) is exported")
        }
        #expect(value("sluice_connections") == 1)
        #expect(value("sluice_spool_pending") == 0)
        #expect(value("sluice_spool_oldest_pending_age_seconds") == 0)
        #expect(value("kafka_producer_queue_depth") != nil)
        #expect(value("kafka_circuit_breaker_state", ["state": "CLOSED"]) == 1)
        #expect(value("kafka_circuit_breaker_state", ["state": "OPEN"]) == 0)
        #expect(value("sluice_healthy") == 1)

        let health = try httpGet(port: port, path: "/healthz")
        #expect(health.status == 200 && health.body == "ok\n")
        #expect(try httpGet(port: port, path: "/nothing").status == 404)
    }

    @Test func healthzAnswers503WithTheReason() throws {
        let test = try TestGateway(brokers: "127.0.0.1:\(try freeTCPPort())") { configuration in
            configuration.metricsListen = "127.0.0.1:0"
            configuration.health.maxCircuitOpenMilliseconds = 0
        }
        let port = try #require(test.gateway.metricsPort)
        var health: (status: Int, body: String) = (0, "")
        try waitUntil("/healthz reports the open circuit", timeout: 30, interval: 0.1) {
            health = try httpGet(port: port, path: "/healthz")
            return health.status == 503
        }
        #expect(health.body.hasPrefix("circuit breaker OPEN for"), "\(health.body)")
        let samples = try parsePrometheusText(try httpGet(port: port, path: "/metrics").body)
        #expect(samples.first { $0.name == "sluice_healthy" }?.value == 0)
        #expect(
            samples.first { $0.name == "kafka_circuit_breaker_state" && $0.labels == ["state": "OPEN"] }?.value == 1)
    }
}
