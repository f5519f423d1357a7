import MetricsTestKit
import SluiceProtocol
import Testing

@testable import SluiceGateway

/// The seed's envelope for player `user`, as a publisher following "Adding New Event Types" sends it.
func envelope(user: String = "42", eventType: String = "MY_NEW_EVENT", extra: String = "") -> String {
    """
    {"eventId":"3f2b1c9e-8d7a-4e6f-9a1b-2c3d4e5f6a7b","eventType":"\(eventType)",\
    "eventTimestamp":"2024-05-01T12:00:00Z","brandId":"brand-7","userId":\(user),\
    "metadata":{"source":"wallet"},"payload":{"field1":"x","field2":12.5}\(extra)}
    """
}

/// A record of `topic` keyed `key` with `value`.
func contractRecord(_ topic: String, key: String = "42", eventType: String = "MY_NEW_EVENT", value: String)
    -> OutgoingRecord
{
    OutgoingRecord(topic: topic, key: Array(key.utf8), eventType: eventType, value: Array(value.utf8))
}

/// The table a YAML `topics:` section compiles to.
func contractTable(_ yaml: String) throws -> ContractTable {
    var configuration = GatewayConfiguration()
    try configuration.apply(yaml: yaml)
    return try ContractTable(configuration.topics)
}

/// Checks `records` as one batch; returns the per-record codes and the violations.
func check(_ table: ContractTable, _ records: [OutgoingRecord]) throws -> ([ErrorCode?], [ContractViolation]) {
    var batch = try PublishBatch(
        payload: OutgoingRecord.encodePayload(records, ackLevel: .durable), limits: Limits(), requestID: 1)
    let violations = table.check(&batch, BatchTopics(batch))
    return (batch.records.map(\.error), violations)
}

let myNewEvent = """
    topics:
      contracts:
        - topic: casino.domain.my-action.v1
          key-from: /userId
          event-types: [MY_NEW_EVENT]
          event-type-from: /eventType
          value: json
          required: [/eventId, /eventTimestamp, /brandId, "/userId: string", "/payload: object"]
          max-value-bytes: 1KiB
    """

@Suite("Topic contracts: configuration and rules")
struct ContractTests {
    let topic = "casino.domain.my-action.v1"

    @Test func parsesTheSection() throws {
        var configuration = GatewayConfiguration()
        try configuration.apply(yaml: myNewEvent + "\n  declared-only: true\n")
        let topics = configuration.topics
        #expect(topics.declaredOnly == .enforce)
        let contract = try #require(topics.contracts.first)
        #expect(contract.keyFrom == "/userId" && contract.eventTypeFrom == "/eventType")
        #expect(contract.eventTypes == ["MY_NEW_EVENT"] && contract.valueIsJSON && contract.maxValueBytes == 1_024)
        #expect(contract.required.last == RequiredField("/payload", type: .object))
        #expect(contract.required.first == RequiredField("/eventId"))
        #expect(contract.mode == .enforce)
    }

    @Test(arguments: [
        ("key-from: userId", #"topics.contracts[0].key-from: "userId" is not a JSON pointer (starts with /)"#),
        ("required: [/a, /b~2]", #"topics.contracts[0].required[1]: "/b~2" is not a JSON pointer"#),
        ("required: [\"/a: text\"]", #"topics.contracts[0].required[0]: "text" is not a JSON type"#),
        ("mode: warn", #"topics.contracts[0].mode: "warn" is not enforce or observe"#),
        ("value: xml", #"topics.contracts[0].value: "xml" is not json"#),
        ("event-types: []", "topics.contracts[0].event-types: list at least one event type"),
        ("max-value-bytes: 0", "topics.contracts[0].max-value-bytes must be between 1 and 2GiB"),
        ("key-form: /userId", "unknown setting topics.contracts[0].key-form"),
    ])
    func invalidSettingsAreNamed(setting: String, message: String) throws {
        var configuration = GatewayConfiguration()
        let error = #expect(throws: ConfigurationError.self) {
            try configuration.apply(yaml: "topics:\n  contracts:\n    - topic: t\n      \(setting)\n")
        }
        #expect(error?.description.hasPrefix(message) == true, "\(error?.description ?? "")")
    }

    @Test func invalidTopicsAndDuplicatesAreNamed() throws {
        var configuration = GatewayConfiguration()
        let bad = #expect(throws: ConfigurationError.self) {
            try configuration.apply(yaml: "topics: { contracts: [ { topic: \"a b\" } ] }")
        }
        #expect(bad?.description.hasPrefix(#"topics.contracts[0].topic: "a b" is not a topic name or glob"#) == true)
        let twice = #expect(throws: ConfigurationError.self) {
            try configuration.apply(yaml: "topics: { contracts: [ { topic: \"a.*\" }, { topic: \"a.*\" } ] }")
        }
        #expect(twice?.description == #"topics.contracts[1].topic: "a.*" is already topics.contracts[0].topic"#)
        let flag = #expect(throws: ConfigurationError.self) {
            try configuration.apply(yaml: "topics: { declared-only: maybe }")
        }
        #expect(flag?.description == "topics.declared-only must be true, false or observe")
    }

    @Test func exactNameBeatsGlobsThenTheFirstGlobWins() throws {
        let table = try contractTable(
            """
            topics:
              contracts:
                - { topic: "casino.*", max-value-bytes: 1 }
                - { topic: "casino.domain.*.v1", max-value-bytes: 2 }
                - { topic: casino.domain.login.v1, max-value-bytes: 3 }
            """)
        func resolved(_ name: String) -> ContractTable.Resolution {
            table.resolve(name)
        }
        #expect(resolved("casino.domain.login.v1") == .contract(2))
        #expect(resolved("casino.domain.bet.v1") == .contract(0), "the first glob in file order")
        #expect(resolved("casino.domain.bet.v1") == .contract(0), "and the same from the memo")
        #expect(resolved("poker.x") == .unchecked)
        #expect(globMatches(Array("a*b*c".utf8), Array("aXbYbZc".utf8)))
        #expect(!globMatches(Array("a*b*c".utf8), Array("aXbYbZ".utf8)))
        #expect(globMatches(Array("*".utf8), Array("".utf8)))
        #expect(globMatches(Array("*.v1".utf8), Array("x.v1.v1".utf8)))
    }

    @Test func aGoodEnvelopePasses() throws {
        let table = try contractTable(myNewEvent)
        let (codes, violations) = try check(table, [contractRecord(topic, value: envelope(user: "\"42\""))])
        #expect(codes == [nil] && violations.isEmpty, "\(violations)")
    }

    @Test(arguments: [
        // key-from: the seed's random-UUID key.
        (
            contractRecord("casino.domain.my-action.v1", key: "9f1c2e7a-5b3d-4c8e", value: envelope(user: "\"42\"")),
            ContractRule.keyFrom, #"key "9f1c2e7a-5b3d-4c8e" is not /userId "42""#
        ),
        (
            contractRecord(
                "casino.domain.my-action.v1", key: "9f1c2e7a-5b3d-4c8e-a1b2-3c4d5e6f7a8b",
                value: envelope(user: "\"42\"")),
            .keyFrom, #"key "9f1c2e7a-5b3d-4c8e-a1b2-…" is not /userId "42""#
        ),
        (
            contractRecord("casino.domain.my-action.v1", value: envelope(user: "{}")),
            .keyFrom, #"key "42": /userId is an object, not a string or integer"#
        ),
        (
            contractRecord("casino.domain.my-action.v1", eventType: "OTHER", value: envelope(user: "\"42\"")),
            .eventTypes, #"event type "OTHER" is not one of MY_NEW_EVENT"#
        ),
        (
            contractRecord("casino.domain.my-action.v1", value: envelope(user: "\"42\"", eventType: "OTHER")),
            .eventTypeFrom, #"event type "MY_NEW_EVENT" is not /eventType "OTHER""#
        ),
        (
            contractRecord("casino.domain.my-action.v1", value: #"{"userId":"42""#),
            .value, "value is not JSON: "
        ),
        (contractRecord("casino.domain.my-action.v1", value: "[1,2]"), .value, "value is an array, not a JSON object"),
        (contractRecord("casino.domain.my-action.v1", value: ""), .value, "value is not JSON: "),
        (
            contractRecord("casino.domain.my-action.v1", value: envelope(user: "42")),
            .required, "/userId is an integer, not a string"
        ),
        (
            contractRecord(
                "casino.domain.my-action.v1",
                value: #"{"eventType":"MY_NEW_EVENT","userId":"42","eventId":"e","eventTimestamp":"t","payload":{}}"#),
            .required, "/brandId is missing"
        ),
        (
            contractRecord(
                "casino.domain.my-action.v1", value: envelope(user: "\"42\"", extra: String(repeating: " ", count: 900))
            ),
            .maxValueBytes, "value is 1121 bytes, over max-value-bytes 1024"
        ),
    ])
    func eachRuleRefusesAloneWithItsMessage(record: OutgoingRecord, rule: ContractRule, message: String) throws {
        let table = try contractTable(myNewEvent)
        let good = contractRecord(topic, value: envelope(user: "\"42\""))
        let (codes, violations) = try check(table, [good, record, good])
        #expect(codes == [nil, .contractViolation, nil], "the rest of the batch is unaffected")
        let violation = try #require(violations.first)
        #expect(violations.count == 1)
        #expect(violation.count == 1 && violation.rule == rule && violation.mode == .enforce)
        #expect(violation.message.hasPrefix(message), "\(violation.message)")
        #expect(violation.topic == topic)
    }

    @Test func aBatchReportsOneViolationPerTopicAndRuleWithItsCountAndLastMessage() throws {
        let table = try contractTable("topics: { contracts: [ { topic: t, key-from: /userId } ] }")
        let first = contractRecord("t", key: "a", value: envelope(user: "\"1\""))
        let second = contractRecord("t", key: "b", value: envelope(user: "\"2\""))
        let good = contractRecord("t", key: "3", value: envelope(user: "\"3\""))
        let (codes, violations) = try check(table, [first, good, second])
        #expect(codes == [.contractViolation, nil, .contractViolation])
        #expect(violations.count == 1)
        #expect(violations.first?.count == 2)
        #expect(violations.first?.message == #"key "b" is not /userId "2""#)
    }

    @Test func anIntegerFieldMatchesTheKeyAsText() throws {
        let table = try contractTable("topics: { contracts: [ { topic: t, key-from: /userId } ] }")
        let (codes, _) = try check(table, [contractRecord("t", value: envelope(user: "42"))])
        #expect(codes == [nil])
        let (missing, violations) = try check(table, [contractRecord("t", value: #"{"user":42}"#)])
        #expect(missing == [.contractViolation] && violations.first?.message == #"key "42": /userId is missing"#)
    }

    @Test func observeModePublishesButReports() throws {
        let table = try contractTable(myNewEvent + "\n      mode: observe\n")
        let (codes, violations) = try check(table, [contractRecord(topic, key: "random", value: envelope())])
        #expect(codes == [nil], "observed records are published")
        #expect(violations.map(\.rule) == [.keyFrom] && violations.first?.mode == .observe)
    }

    @Test func declaredOnlyRefusesUnknownTopics() throws {
        let table = try contractTable(myNewEvent + "\n  declared-only: true\n")
        let unknown = contractRecord("casino.domain.my-actoin.v1", value: envelope(user: "\"42\""))
        let (codes, violations) = try check(table, [unknown, contractRecord(topic, value: envelope(user: "\"42\""))])
        #expect(codes == [.unknownTopic, nil])
        #expect(violations.map(\.rule) == [.declaredOnly])
        let observed = try contractTable(myNewEvent + "\n  declared-only: observe\n")
        let (passed, seen) = try check(observed, [unknown])
        #expect(passed == [nil] && seen.map(\.mode) == [.observe])
    }

    @Test func recordsAlreadyRefusedAndUncoveredTopicsAreNotChecked() throws {
        let table = try contractTable(myNewEvent)
        var batch = try PublishBatch(
            payload: OutgoingRecord.encodePayload(
                [contractRecord(topic, key: "x", value: "no"), contractRecord("other", value: "no")],
                ackLevel: .durable),
            limits: Limits(), requestID: 1)
        batch.records[0].error = .topicNotAllowed
        #expect(table.check(&batch, BatchTopics(batch)).isEmpty)
        #expect(batch.records.map(\.error) == [.topicNotAllowed, nil])
        #expect(!ContractTable.empty.isActive)
    }

    @Test func statsCountPerTopicAndRuleWithTheLastMessage() throws {
        let metrics = TestMetrics()
        let stats = ContractStats(metrics: metrics)
        let violation = ContractViolation(topic: "t", rule: .keyFrom, mode: .enforce, message: "first")
        stats.count([violation, violation], logger: .init(label: "test"))
        var observed = violation
        observed.mode = .observe
        observed.message = "second"
        stats.count([observed], logger: .init(label: "test"))
        let counts = try #require(stats.snapshot().violations["t"]?["key-from"])
        #expect(counts == .init(rejected: 2, observed: 1, lastMessage: "second"))
        let labels = [("topic", "t"), ("reason", "key-from")]
        #expect(try metrics.expectCounter("kafka.events.rejected", labels).totalValue == 2)
        #expect(try metrics.expectCounter("sluice.contract.observed", labels).totalValue == 1)
    }
}
