import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceTestSupport
import Testing

/// The seed's `MyNewEvent` as a contract, `casino.domain.*.v1` observed, and declared-only on.
private let contracts = """
    topics:
      declared-only: true
      contracts:
        - topic: casino.domain.my-action.v1
          key-from: /userId
          event-types: [casino.domain.my-action.v1]
          event-type-from: /eventType
          value: json
          required: [/eventId, /eventTimestamp, /brandId, "/userId: string", "/payload: object"]
          max-value-bytes: 1KiB
        - topic: "casino.domain.*.v1"
          key-from: /userId
          mode: observe
    """

private let topic = "casino.domain.my-action.v1"

/// The seed's envelope of player `user`, numbered `sequence` in its `payload`.
private func event(user: String, sequence: Int, eventType: String = topic, userField: String? = nil) -> String {
    """
    {"eventId":"e-\(user)-\(sequence)","eventType":"\(eventType)","eventTimestamp":"2024-05-01T12:00:00Z",\
    "brandId":"brand-7","userId":\(userField ?? "\"\(user)\""),"metadata":{"source":"test"},\
    "payload":{"sequence":\(sequence)}}
    """
}

private func record(_ key: String, _ value: String, topic: String = topic, eventType: String = topic)
    -> OutgoingRecord
{
    OutgoingRecord(topic: topic, key: Array(key.utf8), eventType: eventType, value: Array(value.utf8))
}

/// Good records of players p0-p3 (sequence `round`) interleaved with one bad record of each
/// kind, and the codes the bad ones must get (by index).
private func mixedBatch(round: Int) -> (records: [OutgoingRecord], failures: [RecordFailure]) {
    let bad: [(OutgoingRecord, ErrorCode)] = [
        (record("9f1c2e7a-random-key", event(user: "p0", sequence: round)), .contractViolation),
        (record("p1", event(user: "p1", sequence: round), eventType: "OTHER"), .contractViolation),
        (record("p2", event(user: "p2", sequence: round, eventType: "casino.domain.other.v1")), .contractViolation),
        (record("p3", "{\"userId\":\"p3\""), .contractViolation),
        (record("7", event(user: "p0", sequence: round, userField: "7")), .contractViolation),
        (record("p1", String(repeating: " ", count: 1_100) + event(user: "p1", sequence: round)), .contractViolation),
        (record("p2", event(user: "p2", sequence: round), topic: "casino.domian.my-action.v1"), .unknownTopic),
    ]
    var records: [OutgoingRecord] = []
    var failures: [RecordFailure] = []
    for (index, (badRecord, code)) in bad.enumerated() {
        let player = "p\(index % 4)"
        records.append(record(player, event(user: player, sequence: round * 10 + index)))
        failures.append(RecordFailure(index: UInt32(records.count), code: code))
        records.append(badRecord)
    }
    return (records, failures)
}

private func publishAwaitingAck(_ client: RawClient, _ records: [OutgoingRecord]) throws -> Ack {
    let id = try client.publish(records)
    let (replyID, reply) = try client.readFrame(timeout: 30)
    guard replyID == id, case .ack(let ack) = reply else { throw TestFailure("expected ACK \(id), got \(reply)") }
    return ack
}

/// Checks that `topic` holds exactly the good records of `batches` (no bad one reached the broker).
private func expectOnlyGoodRecords(
    _ broker: DevBroker, _ batches: [(records: [OutgoingRecord], failures: [RecordFailure])]
)
    throws
{
    var good: Set<String> = []
    for batch in batches {
        let failed = Set(batch.failures.map { Int($0.index) })
        for (index, record) in batch.records.enumerated() where !failed.contains(index) && record.topic == topic {
            good.insert(String(decoding: record.value, as: UTF8.self))
        }
    }
    let consumed = try consume(topic: topic, brokers: broker.bootstrapServers, count: good.count)
    let values = consumed.map { String(decoding: $0.value, as: UTF8.self) }
    #expect(Set(values) == good, "only the good records are in Kafka")
    #expect(values.count == good.count, "and each once")
}

@Suite("Topic contracts against the dev broker", .serialized, .timeLimit(.minutes(3)))
struct ContractBrokerTests {
    @Test func goodRecordsArriveAndEachBadOneGetsItsCodeAlone() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers) { configuration in
            try? configuration.apply(yaml: contracts)
            configuration.metricsListen = "127.0.0.1:0"
        }
        #expect(!test.gateway.configuration.topics.isEmpty)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let batch = mixedBatch(round: 0)
        let ack = try publishAwaitingAck(client, batch.records)
        #expect(ack.failures == batch.failures)
        try expectOnlyGoodRecords(broker, [batch])

        let stats = test.gateway.stats()
        let violations = try #require(stats.contracts?.violations[topic])
        let rules = ["key-from", "event-types", "event-type-from", "value", "required", "max-value-bytes"]
        #expect(violations.mapValues(\.rejected) == Dictionary(uniqueKeysWithValues: rules.map { ($0, 1) }))
        #expect(violations["key-from"]?.lastMessage == #"key "9f1c2e7a-random-key" is not /userId "p0""#)
        #expect(violations["required"]?.lastMessage == "/userId is an integer, not a string")
        #expect(stats.contracts?.violations["casino.domian.my-action.v1"]?["declared-only"]?.rejected == 1)
        #expect(stats.errors["CONTRACT_VIOLATION"] == 6 && stats.errors["UNKNOWN_TOPIC"] == 1)
        #expect(stats.topics[topic]?.rejected == 6)

        let scrape = try httpGet(port: try #require(test.gateway.metricsPort), path: "/metrics")
        let samples = try parsePrometheusText(scrape.body)
        let rejected = samples.first {
            $0.name == "kafka_events_rejected_total" && $0.labels == ["topic": topic, "reason": "value"]
        }
        #expect(rejected?.value == 1, "\(samples.filter { $0.name.hasPrefix("kafka_events_rejected") })")
    }

    @Test func duringAnOutageTheSameChecksHoldAndGoodRecordsAreSpooledThenDelivered() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers) { configuration in
            outageSettings(&configuration)
            try? configuration.apply(yaml: contracts)
        }
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let before = mixedBatch(round: 0)
        #expect(try publishAwaitingAck(client, before.records).failures == before.failures)
        broker.stop()
        var during: [(records: [OutgoingRecord], failures: [RecordFailure])] = []
        for round in 1...3 {
            let batch = mixedBatch(round: round)
            #expect(try publishAwaitingAck(client, batch.records).failures == batch.failures)
            during.append(batch)
        }
        let goodDuring = during.reduce(0) { $0 + $1.records.count - $1.failures.count }
        let stats = test.gateway.stats()
        #expect(stats.retry.pending > 0 && stats.retry.pending <= goodDuring, "only good records are spooled")
        #expect(stats.contracts?.violations[topic]?["value"]?.rejected == 4)

        try broker.start()
        try waitUntil("the spool drains to the restarted broker", timeout: 60) {
            test.gateway.retrySpoolNow()
            return test.gateway.stats().retry.pending == 0
        }
        // The broker came back empty: what it holds now is what was spooled.
        try expectOnlyGoodRecords(broker, during)
    }

    @Test func observeModePublishesAndCounts() throws {
        let broker = try DevBroker()
        let test = try TestGateway(brokers: broker.bootstrapServers) { try? $0.apply(yaml: contracts) }
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let observed = "casino.domain.bet-placed.v1"
        let records = [
            record("random-1", event(user: "p0", sequence: 0), topic: observed),
            record("p1", event(user: "p1", sequence: 1), topic: observed),
        ]
        #expect(try publishAwaitingAck(client, records).failures.isEmpty, "observed violations are published")
        let consumed = try consume(topic: observed, brokers: broker.bootstrapServers, count: 2)
        #expect(Set(consumed.map { String(decoding: $0.key, as: UTF8.self) }) == ["random-1", "p1"])
        let counts = try #require(test.gateway.stats().contracts?.violations[observed]?["key-from"])
        #expect(counts.observed == 1 && counts.rejected == 0)
        #expect(counts.lastMessage == #"key "random-1" is not /userId "p0""#)
        #expect(test.gateway.stats().errors["CONTRACT_VIOLATION"] == nil)
    }
}
