import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// PROTOCOL.md section 3.5's balance of the record counters, once quiet and with a spool
/// empty at the start: received = invalid + published + failed + pending + dlq + dlqFailed.
func expectRecordsBalance(_ stats: StatsSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
    let records = stats.records
    let kept = stats.retry.pending + stats.retry.dlq + stats.retry.dlqFailed
    #expect(
        records.received == records.invalid + records.published + records.failed + kept,
        "records \(records), spool pending \(stats.retry.pending) dlq \(stats.retry.dlq)/\(stats.retry.dlqFailed)",
        sourceLocation: sourceLocation)
    let ruleCodes = ErrorCode.allCases.filter { (20...28).contains($0.rawValue) }
    #expect(
        records.invalid == ruleCodes.reduce(0) { $0 + (stats.errors[$1.name] ?? 0) },
        "records.invalid is the count of the codes 20-28 in errors: \(stats.errors)", sourceLocation: sourceLocation)
    for (name, topic) in stats.topics {
        #expect(
            topic.received == topic.published + topic.pending + topic.dlq + topic.dropped + topic.rejected,
            "topic \(name): \(topic)", sourceLocation: sourceLocation)
    }
}

@Suite("STATS accounting (PROTOCOL.md revision 3, section 3.5)", .serialized, .timeLimit(.minutes(2)))
struct StatsAccountingTests {
    /// `TOO_MANY_CONNECTIONS` and `NOT_PERMITTED` are sent on accept, before any frame: they
    /// count in `errors`, never in `frames.rejected`.
    @Test func errorsAnsweringNoFrameAreNotRejectedFrames() throws {
        let full = try mockGateway { $0.limits.maxConnections = 1 }
        let first = try RawClient.handshaken(socketPath: full.socketPath)
        try expectRefusal(full.socketPath, .tooManyConnections)
        var stats = full.gateway.stats()
        #expect(stats.errors["TOO_MANY_CONNECTIONS"] == 1)
        #expect(stats.frames.rejected == 0, "no frame was answered")
        #expect(stats.frames.received == 1, "the first client's HELLO")
        withExtendedLifetime(first) {}

        let closed = try mockGateway { $0.access.allowedUIDs = [getuid() &+ 1] }
        try expectRefusal(closed.socketPath, .notPermitted)
        stats = closed.gateway.stats()
        #expect(stats.errors["NOT_PERMITTED"] == 1)
        #expect(stats.frames.rejected == 0 && stats.frames.received == 0)
    }

    /// With `store-failures` off, a record only the spool could take is `DELIVERY_FAILED`: it
    /// is counted in `records.failed` and `errors` whether a delivery report or an open
    /// circuit refused it.
    @Test func deliveryFailedWithStoreFailuresOffIsAFailureAndAnError() throws {
        let test = try faultGateway(clock: ManualClock()) { $0.storeFailures = false }
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try takeBrokerDownUntilOpen(test, client, probe: playerRecord(topic: "probe", player: "x", sequence: 0))
        let before = test.gateway.stats()
        #expect(before.records.failed > 0, "the probes' failed deliveries")
        #expect(before.errors["DELIVERY_FAILED"] == before.records.failed)

        let ack = try publishAndAwaitAck(
            client, (0..<3).map { playerRecord(topic: "dropped", player: "p", sequence: $0) })
        #expect(ack.failures.map(\.code) == [.deliveryFailed, .deliveryFailed, .deliveryFailed])
        let after = test.gateway.stats()
        #expect(after.records.failed - before.records.failed == 3)
        #expect((after.errors["DELIVERY_FAILED"] ?? 0) - (before.errors["DELIVERY_FAILED"] ?? 0) == 3)
        #expect(after.topics["dropped"]?.dropped == 3)
        expectRecordsBalance(after)
    }

    /// Over a run with every kind of outcome — published, refused by a check or a policy,
    /// spooled after a failed delivery or behind an open circuit, and a `PUBLISH` refused
    /// whole — the record counters balance as the topic counters do.
    @Test func recordCountersBalanceOverARun() throws {
        let test = try faultGateway(clock: ManualClock()) {
            $0.access.topicPrefixesByUID = [getuid(): ["bal", "probe"]]
        }
        let mock = try #require(test.mockCluster)
        mock.createTopic("bal", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let first = try publishAndAwaitAck(
            client,
            [
                playerRecord(topic: "bal", player: "a", sequence: 0),
                OutgoingRecord(topic: "bal", key: [], value: Array("no key".utf8)),
                playerRecord(topic: "bad topic", player: "a", sequence: 1),
                playerRecord(topic: "other", player: "a", sequence: 2),
                playerRecord(topic: "bal", player: "b", sequence: 0),
            ])
        expectFailures(first, [1: .invalidKey, 2: .invalidTopic, 3: .topicNotAllowed])

        // A PUBLISH refused with an ERROR: its records were not read and count nowhere.
        try client.send(Frame(.publish, requestID: 77, payload: [3, 0, 0, 0, 0, 1]))
        guard case (77, .error(let error)) = try client.readFrame() else { throw TestFailure("expected ERROR 77") }
        #expect(error.rawCode == ErrorCode.malformedPayload.rawValue && !error.closing)
        var stats = test.gateway.stats()
        #expect(stats.records.received == 5)
        #expect(stats.frames.rejected == 1 && stats.errors["MALFORMED_PAYLOAD"] == 1)
        expectRecordsBalance(stats)

        // Failed deliveries and an open circuit send records to the spool: pending, not failed.
        try takeBrokerDownUntilOpen(test, client, probe: playerRecord(topic: "probe", player: "x", sequence: 0))
        let spooled = try publishAndAwaitAck(
            client, (1...2).map { playerRecord(topic: "bal", player: "b", sequence: $0) })
        #expect(spooled.failures.isEmpty)
        stats = test.gateway.stats()
        #expect(stats.retry.pending >= 3, "the probes and the two records")
        #expect(stats.records.failed == 0, "nothing was lost")
        #expect(stats.records.invalid == 3)
        #expect(stats.topics["bal"]?.pending == 2 && stats.topics["other"]?.rejected == 1)
        #expect(stats.topics["bad topic"] == nil, "an invalid topic name is counted in records only")
        expectRecordsBalance(stats)
    }
}

/// `ack` has exactly the failures `codes` (record index → code).
private func expectFailures(_ ack: Ack, _ codes: [UInt32: ErrorCode], sourceLocation: SourceLocation = #_sourceLocation)
{
    #expect(
        ack.failures == codes.sorted { $0.key < $1.key }.map { RecordFailure(index: $0.key, code: $0.value) },
        sourceLocation: sourceLocation)
}
