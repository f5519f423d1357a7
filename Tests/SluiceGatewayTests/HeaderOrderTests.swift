import Foundation
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

/// A record whose own headers repeat a name and are not in name order.
private func headered(_ player: String, _ sequence: Int, eventID: EventID = .zero) -> OutgoingRecord {
    OutgoingRecord(
        topic: "ordered", key: Array(player.utf8), eventType: "t", eventID: eventID,
        headers: [("b", Array("1".utf8)), ("a", Array("2".utf8)), ("b", Array("3".utf8))],
        value: Array("\(player):\(sequence)".utf8))
}

private let expectedNames = ["b", "a", "b", "event-id", "event-type", "sluice-uid", "sluice-pid"]

@Suite("Header order and event-id text (PROTOCOL.md revision 3, section 3.2)", .serialized, .timeLimit(.minutes(2)))
struct HeaderOrderTests {
    /// The client's headers as sent, then the stamped ones in the table's order, whether the
    /// record goes to Kafka at once or waits in the spool across a restart.
    @Test func clientHeadersAsSentThenTheStampedOnesDirectAndFromTheSpool() throws {
        let clock = ManualClock()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let test = try spoolThenRestartAndDrain(headered("p", 0), topic: "ordered", clock: clock, directory: directory)
        let mock = try #require(test.mockCluster)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        #expect(try publishAndAwaitAck(client, [headered("p", 1)]).failures.isEmpty)
        let records = try consume(topic: "ordered", brokers: mock.bootstrapServers, count: 2)
        #expect(records.map { String(decoding: $0.value, as: UTF8.self) } == ["p:0", "p:1"])
        for record in records {
            #expect(record.headers.map(\.name) == expectedNames, "\(String(decoding: record.value, as: UTF8.self))")
            #expect(
                record.headers.filter { $0.name == "b" }.map { String(decoding: $0.value, as: UTF8.self) } == [
                    "1", "3",
                ])
        }
    }

    /// `event-id` is the 16 bytes as lowercase UUID text: a client's id as sent, whatever its
    /// version bits; an id the gateway assigns is a random version 4.
    @Test func eventIDsAreLowercaseTextOfTheBytesAndAssignedOnesAreVersion4() throws {
        let test = try mockGateway()
        let mock = try #require(test.mockCluster)
        mock.createTopic("ordered", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let given = EventID(high: 0xABCD_EF01_2345_6789, low: 0xFEDC_BA98_7654_3210)
        #expect(try publishAndAwaitAck(client, [headered("p", 0, eventID: given), headered("p", 1)]).failures.isEmpty)
        let records = try consume(topic: "ordered", brokers: mock.bootstrapServers, count: 2)
        #expect(records[0].header("event-id") == "abcdef01-2345-6789-fedc-ba9876543210")
        let assigned = try #require(records[1].header("event-id"))
        let text = Array(assigned)
        #expect(text.count == 36 && assigned == assigned.lowercased(), "\(assigned)")
        #expect(text[14] == "4" && "89ab".contains(text[19]), "version 4, variant 10: \(assigned)")
    }
}
