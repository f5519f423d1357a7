import CSluiceClient
import Foundation
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One line of `proto-spec/vectors/frames.tsv` that a server must reject.
struct BadVector: Sendable {
    var name: String
    var code: ErrorCode
    var frame: [UInt8]
    /// Whether the `ERROR` closes the connection (the vector's reply column).
    var closes: Bool

    static func load() throws -> [BadVector] {
        let text = try String(
            contentsOf: repositoryRoot.appendingPathComponent("proto-spec/vectors/frames.tsv"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> BadVector? in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 6, f[1] == "c2s", f[2].hasPrefix("error:"), let raw = UInt16(f[2].dropFirst(6)),
                let code = ErrorCode(rawValue: raw)
            else { return nil }
            return BadVector(
                name: String(f[0]), code: code, frame: hexBytes(String(f[3])), closes: f[5].hasSuffix(",close"))
        }
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(UInt8(String(bytes: [high, low], encoding: .ascii)!, radix: 16)!)
    }
    return bytes
}

/// Resident memory of a process, from /proc.
func residentKilobytes(pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return -1 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
}

/// What one bad connection did to the gateway, for the final tally.
enum BadOutcome: Sendable {
    case error(ErrorCode, closed: Bool)
    case recordErrors([ErrorCode])
    case closedWithoutReply
}

@Suite("Hostile and broken clients against the real gateway binary", .serialized, .timeLimit(.minutes(5)))
struct MalformedInputTests {
    @Test func badClientsNeverHurtTheGoodOne() async throws {
        let broker = try DevBroker()
        try broker.createTopic("good", partitions: 8)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/s.sock"
        let config = directory + "/sluice.yaml"
        try "limits: { handshake-timeout: 1s, max-unacked-bytes: 2MiB }\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try sluiceExecutable())
        server.arguments = [
            "serve", "--socket", socketPath, "--brokers", broker.bootstrapServers, "--spool", directory + "/spool.db",
            "--config", config, "--log-level", "critical",
        ]
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        try waitUntil("the gateway serves its socket", timeout: 15) {
            (try? RawClient.handshaken(socketPath: socketPath)) != nil
        }
        let pid = server.processIdentifier
        let rssBefore = residentKilobytes(pid: pid)

        // The well-behaved client: 5 rounds of one event per player, durable acks.
        let good = Task.detached { () throws -> Void in
            var options = sluice_options()
            sluice_options_init(&options)
            guard let client = sluice_connect(socketPath, &options) else { throw TestFailure("no client") }
            defer { sluice_close(client) }
            for round in 0..<5 { try publishRound(client, topic: "good", round: round, players: players) }
        }

        let vectors = try BadVector.load()
        #expect(vectors.count >= 25)
        let outcomes = try await withThrowingTaskGroup(of: [BadOutcome].self) { group in
            // Every invalid vector, each on its own connection.
            for vector in vectors {
                group.addTask { [vector] in
                    let outcome = try Self.sendBad(vector.frame, socketPath, handshake: !vector.name.hasPrefix("hello"))
                    if case .error(_, let closed) = outcome {
                        #expect(closed == vector.closes, "\(vector.name) closes: \(vector.closes), closed: \(closed)")
                    }
                    return [outcome]
                }
            }
            // Random garbage that does not start like a frame.
            for seed in 0..<10 {
                group.addTask {
                    var generator = SplitMix(seed: UInt64(seed))
                    var bytes = (0..<Int.random(in: 20...4_000, using: &generator)).map { _ in
                        UInt8.random(in: 0...255, using: &generator)
                    }
                    bytes[0] = 0x00
                    return [try Self.sendBad(bytes, socketPath, handshake: seed % 2 == 0)]
                }
            }
            // One byte over each limit.
            let limits = Limits()
            group.addTask {
                var header: [UInt8] = []
                FrameHeader(type: .publish, requestID: 5, payloadLength: limits.maxFrameBytes + 1).encode(into: &header)
                return [try Self.sendBad(header, socketPath)]
            }
            group.addTask {
                let plain = [UInt8](repeating: 0, count: Int(limits.maxDecompressedBytes) + 1)
                let frame = Frame(
                    .publish, requestID: 6, flags: FrameHeader.compressedFlag, payload: ZstdCompressor().compress(plain)
                )
                return [try Self.sendBad(frame.encoded(), socketPath)]
            }
            group.addTask {
                let key = [UInt8](repeating: 0x6B, count: Int(limits.maxKeyBytes) + 1)
                // topic "bad" (3) + key (1) + value: one byte over the record limit.
                let value = [UInt8](repeating: 0x76, count: Int(limits.maxRecordBytes) - 3)
                let headers = (0...Int(limits.maxHeaders)).map { (name: "h\($0)", value: [UInt8]()) }
                let bigHeader = [(name: "h", value: [UInt8](repeating: 1, count: Int(limits.maxHeaderBytes)))]
                let records = [
                    OutgoingRecord(topic: "bad", key: key, value: [1]),
                    OutgoingRecord(topic: "bad", key: [1], value: value),
                    OutgoingRecord(topic: "bad", key: [1], headers: headers, value: [1]),
                    OutgoingRecord(topic: "bad", key: [1], headers: bigHeader, value: [1]),
                ]
                let payload = ZstdCompressor().compress(OutgoingRecord.encodePayload(records, ackLevel: .durable))
                let frame = Frame(.publish, requestID: 7, flags: FrameHeader.compressedFlag, payload: payload)
                let outcome = try Self.sendBad(frame.encoded(), socketPath)
                guard case .recordErrors(let codes) = outcome else {
                    throw TestFailure("expected an ACK, got \(outcome)")
                }
                #expect(codes == [.invalidKey, .recordTooLarge, .invalidHeaders, .invalidHeaders])
                return [outcome]
            }
            // Truncated frames, then the client goes away.
            for cut in [3, 10, 17, 40] {
                group.addTask {
                    let client = try RawClient.handshaken(socketPath: socketPath)
                    let frame = Frame(
                        .publish, requestID: 8,
                        payload: OutgoingRecord.encodePayload(
                            [playerRecord(topic: "bad", player: "x", sequence: 0)], ackLevel: .durable)
                    ).encoded()
                    try client.send(Array(frame.prefix(cut)))
                    return []
                }
            }
            // Handshakes never finished.
            for _ in 0..<5 {
                group.addTask {
                    let client = try RawClient(socketPath: socketPath)
                    guard case .error(let error) = try client.read(timeout: 10) else {
                        throw TestFailure("no TIMED_OUT")
                    }
                    return [.error(error.code!, closed: client.closedByServer())]
                }
            }
            // Clients that never read their acks: the gateway stops reading them instead of buffering.
            for reader in 0..<3 {
                group.addTask {
                    let client = try RawClient.handshaken(socketPath: socketPath)
                    var flags = fcntl(client.descriptor, F_GETFL)
                    flags |= O_NONBLOCK
                    _ = fcntl(client.descriptor, F_SETFL, flags)
                    let records = (0..<500).map {
                        OutgoingRecord(
                            topic: "unread", key: Array("r\(reader)-\($0)".utf8),
                            value: [UInt8](repeating: 7, count: 100))
                    }
                    let payload = OutgoingRecord.encodePayload(records, ackLevel: .durable)
                    let frame = Frame(.publish, requestID: 9, payload: payload).encoded()
                    var sent = 0
                    let deadline = Date().addingTimeInterval(3)
                    while Date() < deadline {
                        let n = frame.withUnsafeBytes {
                            send(client.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                        }
                        if n <= 0 { break }  // the socket is full: the gateway stopped reading us
                        sent += 1
                        if sent > 2_000 { break }
                    }
                    #expect(sent < 2_000, "a client that never reads cannot make the gateway take everything")
                    return []
                }
            }
            var all: [BadOutcome] = []
            for try await outcome in group { all += outcome }
            return all
        }
        try await good.value

        // Every bad connection got its documented error, and closing errors closed it.
        var expected: [ErrorCode: Int] = [:]
        for outcome in outcomes {
            switch outcome {
            case .error(let code, let closed):
                expected[code, default: 0] += 1
                // Any error answering HELLO closes too (PROTOCOL.md section 3.1), MALFORMED_PAYLOAD included.
                #expect(
                    closed == code.closesConnection || code == .malformedPayload,
                    "\(code) closes: \(code.closesConnection), closed: \(closed)")
            case .recordErrors(let codes):
                for code in codes { expected[code, default: 0] += 1 }
            case .closedWithoutReply:
                Issue.record("a bad connection was closed without its ERROR")
            }
        }
        for vector in vectors {
            #expect(outcomes.contains { if case .error(let code, _) = $0 { code == vector.code } else { false } })
        }
        #expect(expected[.timedOut] == 5)
        #expect(expected[.frameTooLarge, default: 0] >= 1)
        #expect(expected[.decompressedTooLarge, default: 0] >= 1)
        #expect(expected[.invalidKey, default: 0] >= 1)
        #expect(expected[.recordTooLarge, default: 0] >= 1)
        #expect(expected[.invalidHeaders, default: 0] >= 2)
        #expect(expected[.badMagic, default: 0] >= 10)

        // The gateway counted each of them, by code.
        guard let errors = try statsDocument(socketPath: socketPath).document["errors"] as? [String: Int] else {
            throw TestFailure("no errors in STATS")
        }
        for (code, count) in expected {
            #expect(
                (errors[code.name] ?? 0) >= count, "STATS counts \(code.name): \(errors[code.name] ?? 0) < \(count)")
        }

        // Every well-behaved event arrived, in order, on its Java partition.
        let records = try consume(topic: "good", brokers: broker.bootstrapServers, count: 5 * players.count)
        try verifyPlayerStreams(records, players: players, sequences: 5, partitions: 8)

        let rssAfter = residentKilobytes(pid: pid)
        #expect(rssBefore > 0 && rssAfter > 0)
        #expect(rssAfter - rssBefore < 256 * 1024, "memory stayed bounded: \(rssBefore) KB → \(rssAfter) KB")
        #expect(server.isRunning, "the gateway is still up")
    }

    /// Sends `bytes` on a fresh connection and reports the gateway's answer.
    static func sendBad(_ bytes: [UInt8], _ socketPath: String, handshake: Bool = true) throws -> BadOutcome {
        let client =
            handshake ? try RawClient.handshaken(socketPath: socketPath) : try RawClient(socketPath: socketPath)
        try? client.send(bytes)
        do {
            let (_, reply) = try client.readFrame(timeout: 10)
            switch reply {
            case .error(let error):
                guard let code = error.code else { throw TestFailure("unknown code \(error.rawCode)") }
                let closed = error.closing ? client.closedByServer() : false
                return .error(code, closed: closed)
            case .ack(let ack):
                return .recordErrors(ack.failures.compactMap(\.code))
            default:
                throw TestFailure("unexpected reply \(reply)")
            }
        } catch is ConnectionClosed {
            return .closedWithoutReply
        }
    }
}

/// A small seeded generator for reproducible garbage.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
