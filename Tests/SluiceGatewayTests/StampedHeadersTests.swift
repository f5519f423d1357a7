import Foundation
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private let stampedNames: Set<String> = ["event-id", "event-type", "sluice-uid", "sluice-pid"]

private func names(_ record: ConsumedRecord) -> [String] { record.headers.map(\.name) }

@Suite("kafka.stamp-headers (mock cluster)", .serialized, .timeLimit(.minutes(2)))
struct StampedHeadersGatewayTests {
    @Test func noneStampedStillReservesTheNames() throws {
        let test = try faultGateway(clock: ManualClock()) { $0.stampHeaders = .none }
        let mock = try #require(test.mockCluster)
        mock.createTopic("bare", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let ack = try publishAndAwaitAck(
            client,
            [
                OutgoingRecord(
                    topic: "bare", key: Array("k".utf8), eventType: "t", headers: [("origin", Array("app".utf8))],
                    value: Array("v".utf8)),
                OutgoingRecord(
                    topic: "bare", key: Array("k".utf8), headers: [("sluice-uid", Array("0".utf8))],
                    value: Array("forged".utf8)),
                OutgoingRecord(
                    topic: "bare", key: Array("k".utf8), headers: [("Event-Type", Array("x".utf8))],
                    value: Array("forged".utf8)),
            ])
        #expect(ack.failures.map(\.index) == [1, 2], "reserved names stay reserved when none is stamped")
        #expect(ack.failures.allSatisfy { $0.rawCode == ErrorCode.invalidHeaders.rawValue })
        let records = try consume(topic: "bare", brokers: mock.bootstrapServers, count: 1)
        #expect(names(records[0]) == ["origin"], "only the client's own header")
        #expect(test.gateway.stats().kafka.stampedHeaders == [])
    }

    @Test func aChosenSubsetIsStampedInTheCanonicalOrder() throws {
        let test = try faultGateway(clock: ManualClock()) {
            $0.stampHeaders = StampedHeaders([.sluicePID, .eventType])
        }
        let mock = try #require(test.mockCluster)
        mock.createTopic("some", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "some", player: "p", sequence: 0)])
        let record = try consume(topic: "some", brokers: mock.bootstrapServers, count: 1)[0]
        #expect(names(record) == ["event-type", "sluice-pid"])
        #expect(record.header("event-type") == "test")
        #expect(record.header("sluice-pid") == String(getpid()))
        #expect(test.gateway.stats().kafka.stampedHeaders == ["event-type", "sluice-pid"])
    }

    /// A spooled record keeps the headers in force when it arrived, across a restart that
    /// changes the setting; records taken after the restart get the new setting.
    @Test func spooledRecordsKeepTheHeadersOfTheirArrival() throws {
        let clock = ManualClock()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let test = try spoolThenRestartAndDrain(
            playerRecord(topic: "arrival", player: "p", sequence: 0), topic: "arrival", clock: clock,
            directory: directory
        ) { $0.stampHeaders = .none }
        let mock = try #require(test.mockCluster)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "arrival", player: "p", sequence: 1)])
        let records = try consume(topic: "arrival", brokers: mock.bootstrapServers, count: 2)
        #expect(records.map { String(decoding: $0.value, as: UTF8.self) } == ["p:0", "p:1"])
        #expect(Set(names(records[0])) == stampedNames, "spooled under the default: all four")
        #expect(names(records[1]).isEmpty, "taken under stamp-headers []: none")
    }
}

@Suite("StampedHeaders")
struct StampedHeadersTests {
    private func stamped(_ headers: StampedHeaders) -> [(String, String)] {
        var out: [(String, String)] = []
        let id = EventID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        let publisher = StampedHeaders.Publisher(uid: 1000, pid: 42)
        Array("type".utf8).withUnsafeBytes { type in
            headers.stamp(eventID: id, eventType: type, publisher: publisher) { name, value in
                out.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        return out
    }

    @Test func allFourInOrder() {
        let out = stamped(.all)
        #expect(out.map(\.0) == ["event-id", "event-type", "sluice-uid", "sluice-pid"])
        #expect(out.map(\.1) == ["01234567-89ab-cdef-fedc-ba9876543210", "type", "1000", "42"])
    }

    @Test func noneAndSubsets() {
        #expect(stamped(.none).isEmpty)
        #expect(StampedHeaders([.sluiceUID, .eventID, .sluiceUID]).names == ["event-id", "sluice-uid"])
        #expect(stamped(StampedHeaders([.sluiceUID])).map(\.1) == ["1000"])
    }

    @Test func reservedNamesIgnoreCaseAndCoverEverySluicePrefix() {
        for name in ["event-id", "EVENT-TYPE", "sluice-uid", "Sluice-anything", "sluice-"] {
            #expect(StampedHeaders.isReserved(Array(name.utf8)), "\(name)")
        }
        for name in ["event-ids", "eventid", "sluice", "origin", "x-sluice-uid"] {
            #expect(!StampedHeaders.isReserved(Array(name.utf8)), "\(name)")
        }
    }
}
