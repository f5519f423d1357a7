import Foundation
import SluiceGateway
import SluiceKafka
import SluiceKafkaForTesting
import SluiceProtocol
import SluiceTestSupport
import Testing

/// The health check opens the circuit when records wait in librdkafka and no delivery
/// report has come for `stallTimeout`; it counts reports rather than timing each one.
@Suite("Stall detection (mock cluster)", .serialized, .timeLimit(.minutes(1)))
struct StallDetectionTests {
    /// A gateway with a 1 s stall timeout and a client whose first record went through.
    private func warmedUp(topic: String) throws -> (TestGateway, KafkaMockCluster, RawClient) {
        let test = try mockGateway { $0.stallTimeoutMilliseconds = 1_000 }
        let mock = try #require(test.mockCluster)
        mock.createTopic(topic, partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: topic, player: "warmup", sequence: 0)])
        return (test, mock, client)
    }

    @Test func recordsWaitingWithoutReportsOpenTheCircuit() throws {
        let (test, mock, client) = try warmedUp(topic: "stall")
        mock.setRoundTripTime(broker: 1, milliseconds: 20_000)
        let id = try client.publish([playerRecord(topic: "stall", player: "p", sequence: 1)])
        try waitUntil("the circuit opens on the stall", timeout: 10) { test.gateway.circuitState == .open }
        // Opening hands what the producer held to the spool, which acks it.
        let (ackID, reply) = try client.readFrame(timeout: 20)
        #expect(ackID == id)
        #expect(reply == .ack(Ack(recordCount: 1, failures: [])))
        #expect(test.gateway.stats().retry.pending == 1)
    }

    @Test func steadyReportsKeepItClosedWhileRecordsWait() throws {
        let (test, mock, client) = try warmedUp(topic: "steady")
        // Each request takes 300 ms and a new batch goes every 100 ms, so records are always
        // waiting while reports keep coming: 3 s, three times the stall timeout.
        mock.setRoundTripTime(broker: 1, milliseconds: 300)
        var sent: [UInt32] = []
        let start = Date()
        var sequence = 1
        while Date().timeIntervalSince(start) < 3 {
            sent.append(try client.publish([playerRecord(topic: "steady", player: "p", sequence: sequence)]))
            sequence += 1
            Thread.sleep(forTimeInterval: 0.1)  // pacing the load, not waiting for a condition
            #expect(test.gateway.circuitState == .closed, "stall detected while reports were arriving")
        }
        mock.setRoundTripTime(broker: 1, milliseconds: 0)
        for id in sent {
            let (ackID, reply) = try client.readFrame(timeout: 20)
            #expect(ackID == id)
            #expect(reply == .ack(Ack(recordCount: 1, failures: [])))
        }
        #expect(test.gateway.stats().retry.pending == 0, "nothing was spooled")
    }
}
