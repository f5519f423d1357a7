import Foundation
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A client cannot forge the headers the gateway stamps.
@Suite("Reserved headers", .serialized, .timeLimit(.minutes(2)))
struct ReservedHeaderTests {
    @Test func spoofedProvenanceHeadersFailTheirRecord() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers)
        let topic = "reserved.headers"
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        func record(_ headers: [(name: String, value: [UInt8])], value: String) -> OutgoingRecord {
            OutgoingRecord(topic: topic, key: Array("k".utf8), headers: headers, value: Array(value.utf8))
        }
        try client.publish([
            record([("origin", Array("ok".utf8))], value: "good"),
            record([("sluice-uid", Array("0".utf8))], value: "uid"),
            record([("Sluice-Pid", Array("1".utf8))], value: "pid"),
            record([("event-id", Array("00000000-0000-0000-0000-000000000000".utf8))], value: "id"),
            record([("event-type", Array("admin".utf8))], value: "type"),
        ])
        guard case .ack(let ack) = try client.read() else {
            Issue.record("no ACK")
            return
        }
        #expect(ack.failures.map(\.index) == [1, 2, 3, 4])
        #expect(ack.failures.allSatisfy { $0.rawCode == ErrorCode.invalidHeaders.rawValue })

        let records = try consume(topic: topic, brokers: broker.bootstrapServers, count: 1)
        #expect(records.map { String(decoding: $0.value, as: UTF8.self) } == ["good"])
        let stamped = try #require(records.first)
        #expect(stamped.headers.filter { $0.name == "sluice-uid" }.map(\.value) == [Array(String(getuid()).utf8)])
        #expect(stamped.headers.filter { $0.name == "sluice-pid" }.map(\.value) == [Array(String(getpid()).utf8)])
        #expect(stamped.headers.filter { $0.name == "event-id" }.count == 1)
    }
}
