import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceTestSupport
import Testing

/// While librdkafka's queue is full the publishing connection waits; its loop does not.
@Suite("A full librdkafka queue", .timeLimit(.minutes(1)))
struct FullQueueTests {
    @Test func pausesTheConnectionNotItsLoop() throws {
        let test = try mockGateway {
            $0.producer.properties["queue.buffering.max.messages"] = "4"
            $0.stallTimeoutMilliseconds = 60_000
        }
        let mock = try #require(test.mockCluster)
        mock.createTopic("full", partitions: 1)
        let publisher = try RawClient.handshaken(socketPath: test.socketPath)
        // Connections are spread over the loops in turn, so some of these share the publisher's.
        let neighbours = try (0..<4).map { _ in try RawClient.handshaken(socketPath: test.socketPath) }
        mock.setRoundTripTime(broker: 1, milliseconds: 800)

        let id = try publisher.publish((0..<16).map { playerRecord(topic: "full", player: "p\($0 % 4)", sequence: $0) })
        try waitUntil("librdkafka's queue is full", timeout: 5) { test.gateway.stats().kafka.queueDepth >= 4 }
        for neighbour in neighbours {
            let pinged = Date()
            try neighbour.send(Frame(.ping, requestID: 5, payload: [7]))
            #expect(try neighbour.read(timeout: 2) == .pong([7]))
            #expect(Date().timeIntervalSince(pinged) < 0.5, "a neighbour waited for the full queue")
            try neighbour.send(Frame(.stats, requestID: 6, payload: []))
            guard case .statsReply = try neighbour.read(timeout: 2) else {
                Issue.record("no STATS reply while the queue is full")
                continue
            }
        }
        mock.setRoundTripTime(broker: 1, milliseconds: 0)
        let (ackID, reply) = try publisher.readFrame(timeout: 30)
        #expect(ackID == id)
        #expect(reply == .ack(Ack(recordCount: 16, failures: [])))
    }
}
