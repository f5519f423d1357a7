import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceTestSupport
import Testing

@Suite("What an `accepted` ACK carries (PROTOCOL.md section 4)", .serialized, .timeLimit(.minutes(1)))
struct AcceptedAckTests {
    @Test func withStoreFailuresOffAnAcceptedAckCarriesTheDeliveryCodesKnownWhenItIsSent() throws {
        let gateway = try TestGateway(brokers: "127.0.0.1:1") {
            $0.producer.deliveryTimeoutMilliseconds = 60_000
            $0.storeFailures = false
        }
        // No broker answers: once a record waits, librdkafka reports every broker down and the circuit opens.
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        try client.publish([playerRecord(topic: "warmup", player: "p", sequence: 0)], ack: .none)
        try waitUntil("the circuit opens", timeout: 20) { gateway.gateway.circuitState == .open }
        var invalid = playerRecord(topic: "events", player: "p", sequence: 1)
        invalid.timestamp = -1
        let id = try client.publish(
            [playerRecord(topic: "events", player: "p", sequence: 0), invalid], ack: .accepted)
        // The warm-up's failure may come first: at ack level none, an ACK reports it.
        var (replyID, reply) = try client.readFrame(timeout: 5)
        if replyID != id { (replyID, reply) = try client.readFrame(timeout: 5) }
        #expect(replyID == id)
        guard case .ack(let ack) = reply else { throw TestFailure("expected ACK, got \(reply)") }
        #expect(ack.failures.map(\.rawCode) == [30, 26], "the drop and the rule code, both in the accepted ACK")
        let balance = try #require(gateway.gateway.stats().topics["events"])
        #expect(balance.received == 2 && balance.dropped == 1 && balance.rejected == 1)
    }
}
