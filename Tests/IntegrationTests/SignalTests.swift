import Foundation
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGHUP and SIGTERM sent to the real binary.
@Suite("Signals", .serialized, .timeLimit(.minutes(3)))
struct SignalTests {
    @Test func sighupDoesNotStopTheGateway() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers, logLevel: "notice")
        kill(gateway.pid, SIGHUP)
        try waitUntil("the gateway logs the SIGHUP", timeout: 10) {
            guard gateway.process.isRunning else { throw TestFailure("SIGHUP stopped the gateway") }
            return gateway.log.contains("SIGHUP")
        }
        _ = try RawClient.handshaken(socketPath: gateway.socketPath)
        #expect(try gateway.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: gateway.socketPath), "the socket file is removed")
    }

    @Test func sigtermAcksWhatItReadThenSaysShuttingDown() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers)
        let topic = "sigterm.pipelined"
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        var valueOfRequest: [UInt32: String] = [:]
        for index in 0..<300 {
            let value = "event-\(index)"
            let id = try client.publish([
                OutgoingRecord(topic: topic, key: Array("k\(index % 10)".utf8), value: Array(value.utf8))
            ])
            valueOfRequest[id] = value
        }
        kill(gateway.pid, SIGTERM)

        var acked: Set<String> = []
        var shuttingDown = false
        reading: while true {
            do {
                let (id, message) = try client.readFrame(timeout: 30)
                switch message {
                case .ack(let ack):
                    #expect(ack.failures.isEmpty, "request \(id): \(ack.failures)")
                    if let value = valueOfRequest[id] { acked.insert(value) }
                case .error(let error):
                    #expect(error.rawCode == ErrorCode.shuttingDown.rawValue, "\(error)")
                    #expect(error.closing && error.retriable && id == 0)
                    shuttingDown = true
                default:
                    Issue.record("unexpected \(message)")
                }
            } catch is ConnectionClosed {
                break reading
            }
        }
        #expect(acked.count == 300 || shuttingDown, "\(acked.count) of 300 acked, then EOF without SHUTTING_DOWN")
        #expect(try gateway.stop() == 0)

        // Every acked record is on the broker, and nothing that was not acked was published.
        let records = try consume(topic: topic, brokers: broker.bootstrapServers, count: acked.count)
        let published = Set(records.map { String(decoding: $0.value, as: UTF8.self) })
        #expect(acked.isSubset(of: published), "\(acked.subtracting(published).count) acked records are missing")
        #expect(published.isSubset(of: acked), "\(published.subtracting(acked).count) records published without ACK")
        print("SIGTERM with 300 pipelined frames: \(acked.count) acked, then SHUTTING_DOWN: \(shuttingDown)")
    }
}
