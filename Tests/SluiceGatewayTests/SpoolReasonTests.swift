import SluiceGateway
import SluiceKafkaForTesting
import SluiceSpool
import SluiceTestSupport
import Testing

@Suite("The reason a record was spooled (mock cluster)", .timeLimit(.minutes(2)))
struct SpoolReasonTests {
    @Test func aRecordSpooledBehindItsKeyShowsThatReasonNotCircuitOpen() throws {
        let clock = ManualClock()
        let test = try faultGateway(clock: clock)
        let mock = try #require(test.mockCluster)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        // The broker rejects the key's first record (INVALID_RECORD): it waits in the spool
        // for its backoff, and the key's next records queue behind it.
        mock.failProduceRequests(count: 1, code: 87)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "reasons", player: "p", sequence: 0)])
        let ack = try publishAndAwaitAck(
            client, (1..<3).map { playerRecord(topic: "reasons", player: "p", sequence: $0) })
        #expect(ack.failures.isEmpty)
        #expect(test.gateway.circuitState == .closed, "the circuit never opened")

        // What `sluice spool show` prints as each record's last error.
        let spool = try Spool(path: test.directory + "/spool.db")
        let stored = try spool.list(limit: 10).sorted { $0.record.sequence < $1.record.sequence }
        #expect(stored.map { String(decoding: $0.record.value, as: UTF8.self) } == ["p:0", "p:1", "p:2"])
        let head = try #require(stored.first)
        #expect(head.lastError != "circuit open" && head.lastError?.isEmpty == false, "the broker's error")
        for behind in stored.dropFirst() {
            #expect(try spool.record(id: behind.id)?.lastError == "behind its key's spooled records")
        }
    }
}
