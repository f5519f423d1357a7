import Foundation
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

/// Issue #11: what the gateway announces it accepts, it can publish, and STATS adds up.
@Suite("Announced limits and the per-topic balance (real broker)", .serialized, .timeLimit(.minutes(3)))
struct AnnouncedLimitsTests {
    @Test func recordsAtTheAnnouncedLimitArePublishedAndTheBalanceHolds() throws {
        let broker = try DevBroker()
        let gateway = try TestGateway(brokers: broker.bootstrapServers)
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        let topic = "limits.balance"

        // 999,888 bytes of record (PROTOCOL.md's count), under the announced 1,000,000, with
        // the stamped headers on top in Kafka: librdkafka's message.max.bytes must fit it.
        let header = (name: "trace", value: [UInt8](repeating: 0x41, count: 100))
        let bigValue = [UInt8](repeating: 0x78, count: 999_888 - topic.utf8.count - 5 - 4 - 105)
        let big = OutgoingRecord(
            topic: topic, key: Array("big-1".utf8), eventType: "huge", headers: [header], value: bigValue)
        var atLimit = big
        atLimit.key = Array("big-2".utf8)
        atLimit.value += [UInt8](repeating: 0x78, count: 1_000_000 - 999_888)
        let records = [
            big,
            atLimit,
            OutgoingRecord(topic: topic, key: [], value: Array("empty key".utf8)),
            OutgoingRecord(topic: topic, key: [0xFF], value: Array("not UTF-8".utf8)),
            OutgoingRecord(topic: topic, key: Array("k".utf8), timestamp: -1, value: Array("negative".utf8)),
            OutgoingRecord(topic: "bad topic", key: Array("k".utf8), value: Array("not counted per topic".utf8)),
            playerRecord(topic: topic, player: "p", sequence: 1),
        ]
        let id = try client.publish(records)
        let (replyID, reply) = try client.readFrame(timeout: 60)
        guard case .ack(let ack) = reply else { throw TestFailure("expected ACK, got \(reply)") }
        #expect(replyID == id)
        #expect(ack.failures.map { [$0.index, UInt32($0.rawCode)] } == [[2, 21], [3, 21], [4, 26], [5, 20]])

        let stats = gateway.gateway.stats()
        let balance = try #require(stats.topics[topic])
        #expect(balance.received == 6, "records of a validly named topic, rejected ones included")
        #expect(balance.published == 3, "both records at the limit reached Kafka: \(balance)")
        #expect(balance.rejected == 3)
        #expect(
            balance.received == balance.published + balance.pending + balance.dlq + balance.dropped + balance.rejected)
        #expect(stats.topics["bad topic"] == nil, "an invalid topic name gets no per-topic entry")
        #expect(stats.errors["INTERNAL"] == nil, "no record at the limit fails inside the gateway")

        let published = try consume(topic: topic, brokers: broker.bootstrapServers, count: 3)
        let sizes = published.filter { String(decoding: $0.key, as: UTF8.self).hasPrefix("big") }.map(\.value.count)
            .sorted()
        #expect(sizes == [bigValue.count, bigValue.count + 112])
    }

    @Test func framesReceivedCountsRejectedFrames() throws {
        let broker = try DevBroker()
        let gateway = try TestGateway(brokers: broker.bootstrapServers)
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        let before = gateway.gateway.stats().frames
        #expect(before.received == 1 && before.rejected == 0, "the HELLO")
        // Three frames answered with a non-closing ERROR, and one PING answered with PONG.
        try client.send(Frame(.ping, requestID: 2, payload: [UInt8](repeating: 0, count: 257)))
        try client.send(
            Frame(header: FrameHeader(version: 1, rawType: 0x7F, flags: 0, requestID: 3, payloadLength: 0), payload: [])
        )
        try client.send(Frame(.stats, requestID: 4, payload: [1]))
        try client.send(Frame(.ping, requestID: 5, payload: []))
        var codes: [UInt16] = []
        for _ in 0..<4 {
            let (id, message) = try client.readFrame()
            if case .error(let error) = message {
                codes.append(error.rawCode)
                #expect(!error.closing && id != 0, "non-closing, with the frame's request id")
            }
        }
        #expect(codes == [7, 5, 7])
        let after = gateway.gateway.stats().frames
        #expect(after.received == 5, "rejected frames are received frames too")
        #expect(after.rejected == 3)
    }
}
