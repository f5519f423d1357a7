import Testing

@testable import SluiceProtocol

@Suite("Encoding matches the spec's bytes")
struct EncodingTests {
    @Test func helloMatchesVector() {
        #expect(Hello(clientName: "c").frame(requestID: 1).encoded() == Vector.named("hello_v1").frame)
    }

    @Test func helloOKWithDefaultLimitsMatchesVector() {
        let frame = HelloOK(version: 1, limits: Limits(), serverName: "sluice/0.1.0").frame(requestID: 1)
        #expect(frame.encoded() == Vector.named("hello_ok").frame)
    }

    @Test func ackMatchesVector() {
        let ack = Ack(recordCount: 3, failures: [RecordFailure(index: 1, code: .invalidKey)])
        #expect(ack.frame(requestID: 9).encoded() == Vector.named("ack_one_failed").frame)
        #expect(Ack(recordCount: 3, failures: []).frame(requestID: 9).encoded() == Vector.named("ack_all_ok").frame)
    }

    @Test func errorMatchesVector() {
        let error = ErrorMessage(ProtocolError(.badMagic, "bad magic"))
        #expect(error.frame(requestID: 0).encoded() == Vector.named("error_bad_magic").frame)
        let overloaded = ErrorMessage(ProtocolError(.overloaded, "slow down"))
        #expect(overloaded.frame(requestID: 4).encoded() == Vector.named("error_overloaded").frame)
    }

    @Test func pingAndStatsMatchVectors() {
        #expect(Frame(.ping, requestID: 7, payload: Array("hi".utf8)).encoded() == Vector.named("ping_hi").frame)
        #expect(Frame(.stats, requestID: 10, payload: []).encoded() == Vector.named("stats").frame)
    }

    @Test func publishPayloadMatchesVectors() {
        let one = OutgoingRecord(topic: "t", key: Array("p1".utf8), value: Array("v".utf8))
        let frame = Frame(.publish, requestID: 2, payload: OutgoingRecord.encodePayload([one], ackLevel: .durable))
        #expect(frame.encoded() == Vector.named("publish_one_plain").frame)

        let full = OutgoingRecord(
            topic: "game.events-v1_x", key: Array("player-42".utf8), eventType: "login",
            eventID: EventID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10), timestamp: 1_764_412_800_000,
            headers: [("source", Array("svc-a".utf8)), ("trace", [0, 1])], value: Array(#"{"level":3}"#.utf8))
        let fullFrame = Frame(
            .publish, requestID: 2, payload: OutgoingRecord.encodePayload([full], ackLevel: .accepted))
        #expect(fullFrame.encoded() == Vector.named("publish_full_record").frame)

        let fifty = (0..<50).map {
            OutgoingRecord(topic: "t", key: Array("player-\($0)".utf8), value: Array("event \($0)".utf8))
        }
        #expect(OutgoingRecord.encodePayload(fifty, ackLevel: .durable) == Vector.named("publish_zstd_50").plain)
    }

    @Test func decodedRecordExposesEveryField() throws {
        var session = ServerSession(limits: Limits())
        session.feed(Vector.named("hello_v1").frame)
        _ = try session.next()
        session.feed(Vector.named("publish_full_record").frame)
        guard case .publish(let batch, let id) = try session.next() else {
            Issue.record("expected a publish")
            return
        }
        #expect(id == 2)
        #expect(batch.ackLevel == .accepted)
        let record = try #require(batch.records.first)
        #expect(batch.string(record.topic) == "game.events-v1_x")
        #expect(batch.string(record.key) == "player-42")
        #expect(batch.string(record.eventType) == "login")
        #expect(record.eventID.uuidString == "01020304-0506-0708-090a-0b0c0d0e0f10")
        #expect(record.timestamp == 1_764_412_800_000)
        #expect(batch.string(record.value) == #"{"level":3}"#)
        var headers: [(String, [UInt8])] = []
        batch.forEachHeader(of: record) { name, value in
            headers.append((String(decoding: name, as: UTF8.self), Array(value)))
        }
        #expect(headers.map(\.0) == ["source", "trace"])
        #expect(headers.map(\.1) == [Array("svc-a".utf8), [0, 1]])
    }

    @Test func compressedRoundTrip() throws {
        let records = (0..<1_000).map {
            OutgoingRecord(
                topic: "events", key: Array("player-\($0 % 97)".utf8), value: Array(repeating: 7, count: 200))
        }
        let plain = OutgoingRecord.encodePayload(records, ackLevel: .durable)
        let compressed = ZstdCompressor().compress(plain)
        #expect(compressed.count < plain.count / 4)
        let back = try ZstdDecompressor().decompress(compressed, limit: UInt32(plain.count), requestID: 1)
        #expect(back == plain)
        #expect(throws: ProtocolError.self) {
            try ZstdDecompressor().decompress(compressed, limit: UInt32(plain.count - 1), requestID: 1)
        }
    }

    @Test(arguments: [
        ("events", true), ("a.b_c-D9", true), ("", false), (".", false), ("..", false), ("...", true),
        (String(repeating: "x", count: 249), true), (String(repeating: "x", count: 250), false), ("a b", false),
        ("naïve", false), ("a/b", false),
    ])
    func topicNames(name: String, valid: Bool) {
        #expect(PublishBatch.isValidTopic(name.utf8) == valid)
    }

    @Test func versionNegotiation() {
        #expect(Hello(minVersion: 1, maxVersion: 1, clientName: "").negotiate() == 1)
        #expect(Hello(minVersion: 1, maxVersion: 9, clientName: "").negotiate() == 1)
        #expect(Hello(minVersion: 2, maxVersion: 9, clientName: "").negotiate() == nil)
        #expect(Hello(minVersion: 3, maxVersion: 1, clientName: "").negotiate() == nil)
    }

    @Test func eventIDsAreVersion4AndDistinct() {
        var generator = SeededGenerator(seed: 42)
        let ids = (0..<1_000).map { _ in EventID.random(using: &generator) }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(20) {
            let text = id.uuidString
            #expect(text.count == 36)
            #expect(Array(text)[14] == "4")
            #expect("89ab".contains(Array(text)[19]))
        }
    }

    @Test func handshakeIsRequiredAndOnlyOnce() throws {
        var session = ServerSession(limits: Limits())
        session.feed(Vector.named("ping_hi").frame)
        #expect(throws: ProtocolError(.protocolState, "the first frame must be HELLO", requestID: 7)) {
            try session.next()
        }
        #expect(try session.next() == nil, "a closing error ends the session")

        var twice = ServerSession(limits: Limits())
        twice.feed(Vector.named("hello_v1").frame + Vector.named("hello_v1").frame)
        _ = try twice.next()
        #expect(throws: ProtocolError.self) { try twice.next() }
    }

    @Test func nonClosingErrorsLeaveTheSessionUsable() throws {
        var session = ServerSession(limits: Limits())
        session.feed(Vector.named("hello_v1").frame)
        _ = try session.next()
        session.feed(Vector.named("publish_bad_ack_level").frame + Vector.named("ping_hi").frame)
        #expect(throws: ProtocolError.self) { try session.next() }
        guard case .ping(let payload, 7) = try session.next() else {
            Issue.record("the PING after a malformed PUBLISH must still be served")
            return
        }
        #expect(payload == Array("hi".utf8))
    }
}
