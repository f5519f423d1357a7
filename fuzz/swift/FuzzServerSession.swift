/// libFuzzer target for the Swift protocol decoder (PROTOCOL.md), both directions.
///
/// `fuzz/build.sh` compiles this file into one module with `Sources/SluiceProtocol/*.swift`.
/// Every input runs through:
///
/// - a `ServerSession` after a valid `HELLO` (vector `hello_v1`): the input is the stream a
///   client sends after its handshake;
/// - a fresh `ServerSession` without a handshake, so the `HELLO` path is fuzzed too;
/// - a client-side `FrameDecoder` with `ServerMessage(frame:)`.
///
/// Each is fed in three splits (whole; byte at a time for the first 1 KiB then the rest;
/// chunks of 1–64 bytes drawn from a hash of the input) and drained until `next()` returns
/// nil or a closing error. Beyond crashes, traps and ASan reports, it stops on:
///
/// - results that depend on the split (the decoder must not care how bytes arrive);
/// - a decoded `PUBLISH` whose ranges leave its payload, or a record accepted although it
///   breaks a rule of PROTOCOL.md section 3.2;
/// - a `PUBLISH` whose payload decodes differently once the harness sends it zstd-compressed;
/// - a session that yields anything after a closing error, or buffers more than it was fed;
/// - a connection left open by a frame other than `HELLO` before the handshake.

/// Vector `hello_v1`: `HELLO` for versions 1…1 from client "c", request id 1.
let helloV1: [UInt8] = [
    0x53, 0x4C, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
    0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x63,
]

/// What a decoder produced, in order; compared across splits.
enum Event: Equatable {
    case hello(version: UInt16, minVersion: UInt16, maxVersion: UInt16, requestID: UInt32)
    case publish(requestID: UInt32, ackLevel: UInt8, payloadCount: Int, codes: [UInt16])
    case stats(requestID: UInt32)
    case ping(requestID: UInt32, payload: [UInt8])
    case error(code: UInt16, requestID: UInt32)
    case message(requestID: UInt32, ServerMessage)
}

struct Run: Equatable {
    var events: [Event] = []
    var closed = false
    var buffered = 0
}

enum Split: CaseIterable {
    case whole, bytesThenRest, hashedChunks

    /// The chunk boundaries for `count` input bytes.
    func ranges(count: Int, seed: UInt64) -> [Range<Int>] {
        switch self {
        case .whole:
            return count == 0 ? [] : [0..<count]
        case .bytesThenRest:
            let prefix = min(count, 1024)
            var ranges = (0..<prefix).map { $0..<($0 + 1) }
            if prefix < count { ranges.append(prefix..<count) }
            return ranges
        case .hashedChunks:
            var state = seed | 1
            var ranges: [Range<Int>] = []
            var offset = 0
            while offset < count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                let size = min(count - offset, Int(state % 64) + 1)
                ranges.append(offset..<(offset + size))
                offset += size
            }
            return ranges
        }
    }
}

func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz invariant: \(message())") }
}

/// Keeps the header bytes read above from being optimized away, so ASan sees every read.
@_optimize(none) func blackHole(_ value: UInt8) {}

/// FNV-1a over the input: the seed of the hashed split, so a reproducer splits the same way.
func fnv1a(_ input: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in input {
        hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    return hash
}

/// Checks a decoded batch against PROTOCOL.md section 3.2 and touches every byte it points at.
func checkBatch(_ batch: PublishBatch, limits: Limits) -> [UInt16] {
    let count = batch.payload.count
    check(!batch.records.isEmpty, "PUBLISH with no records accepted")
    check(batch.records.count <= Int(limits.maxRecordsPerFrame), "more records than the limit accepted")
    var codes: [UInt16] = []
    for record in batch.records {
        for range in [record.topic, record.key, record.eventType, record.headers, record.value] {
            check(range.lowerBound >= 0 && range.upperBound <= count, "record range \(range) outside \(count) bytes")
        }
        var headers = 0
        var headerBytes = 0
        var emptyName = false
        var sink: UInt8 = 0
        batch.forEachHeader(of: record) { name, value in
            headers += 1
            headerBytes += name.count + value.count
            emptyName = emptyName || name.isEmpty
            for byte in name { sink ^= byte }
            for byte in value { sink ^= byte }
        }
        check(headers == record.headerCount, "forEachHeader saw \(headers) of \(record.headerCount) headers")
        let topic = batch.string(record.topic)
        _ = batch.string(record.key)
        _ = batch.string(record.eventType)
        check(record.eventID.uuidString.utf8.count == 36, "UUID text is not 36 bytes")
        if record.error == nil {
            let recordBytes =
                record.topic.count + record.key.count + record.eventType.count + headerBytes + record.value.count
            check(PublishBatch.isValidTopic(batch.payload[record.topic]), "invalid topic \(topic) accepted")
            check(topic != "." && topic != "..", "topic \(topic) accepted")
            check(
                !record.key.isEmpty && record.key.count <= Int(limits.maxKeyBytes),
                "key of \(record.key.count) bytes accepted")
            check(
                headers <= Int(limits.maxHeaders) && headerBytes <= Int(limits.maxHeaderBytes) && !emptyName,
                "headers accepted: \(headers), \(headerBytes) bytes, empty name \(emptyName)")
            check(recordBytes <= Int(limits.maxRecordBytes), "record of \(recordBytes) bytes accepted")
            check(record.timestamp >= 0, "negative timestamp accepted")
            check(
                String(validating: batch.payload[record.key], as: UTF8.self) != nil
                    && String(validating: batch.payload[record.eventType], as: UTF8.self) != nil,
                "a key or event type that is not UTF-8 accepted")
        }
        blackHole(sink)
        codes.append(record.error?.rawValue ?? 0)
    }
    return codes
}

/// Feeds `input` to a server session, after `hello_v1` when `handshake`.
func runServer(_ input: UnsafeRawBufferPointer, split: Split, seed: UInt64, handshake: Bool) -> Run {
    let limits = Limits()
    var session = ServerSession(limits: limits)
    var run = Run()
    if handshake {
        session.feed(helloV1)
        do {
            guard case .hello(_, let version, let id)? = try session.next(), version == 1, id == 1 else {
                fatalError("fuzz invariant: hello_v1 did not complete the handshake")
            }
        } catch {
            fatalError("fuzz invariant: hello_v1 rejected: \(error)")
        }
    }
    var fed = 0
    outer: for range in split.ranges(count: input.count, seed: seed) {
        session.feed(UnsafeRawBufferPointer(rebasing: input[range]))
        fed += range.count
        while true {
            do {
                guard let request = try session.next() else { break }
                switch request {
                case .hello(let hello, let version, let id):
                    check(
                        !handshake && !run.events.contains { if case .hello = $0 { true } else { false } },
                        "a second HELLO accepted")
                    check(hello.negotiate() == version && supportedVersions.contains(version), "bad negotiation")
                    check(session.version == version, "session version not set")
                    run.events.append(
                        .hello(
                            version: version, minVersion: hello.minVersion, maxVersion: hello.maxVersion,
                            requestID: id))
                case .publish(let batch, let id):
                    check(session.version != nil, "PUBLISH before HELLO accepted")
                    let codes = checkBatch(batch, limits: limits)
                    run.events.append(
                        .publish(
                            requestID: id, ackLevel: batch.ackLevel.rawValue, payloadCount: batch.payload.count,
                            codes: codes))
                case .stats(let id):
                    check(session.version != nil, "STATS before HELLO accepted")
                    run.events.append(.stats(requestID: id))
                case .ping(let payload, let id):
                    check(session.version != nil, "PING before HELLO accepted")
                    check(payload.count <= Limits.maxPingBytes, "PING of \(payload.count) bytes accepted")
                    run.events.append(.ping(requestID: id, payload: payload))
                }
            } catch {
                // PROTOCOL.md 3.1: before the handshake every error closes the connection.
                check(
                    session.version != nil || error.closesConnection,
                    "\(error.code) before HELLO left the connection open: \(error.message)")
                run.events.append(.error(code: error.code.rawValue, requestID: error.requestID))
                if error.closesConnection {
                    run.closed = true
                    break outer
                }
            }
            check(session.bufferedCount <= fed, "buffered \(session.bufferedCount) of \(fed) bytes fed")
        }
    }
    if run.closed {
        session.feed(helloV1)
        do {
            let after = try session.next()
            check(after == nil, "a request after a closing error")
        } catch {
            fatalError("fuzz invariant: an error after a closing error: \(error)")
        }
    } else {
        run.buffered = session.bufferedCount
    }
    return run
}

/// The input with every leading, well-formed, uncompressed `PUBLISH` frame rewritten as a
/// `COMPRESSED` one carrying the same payload; from the first other frame on, the bytes are
/// kept as they are. Nil when there is no such `PUBLISH`.
func recompressingPublishes(_ input: UnsafeRawBufferPointer, with compressor: ZstdCompressor) -> [UInt8]? {
    var out: [UInt8] = []
    var offset = 0
    var rewritten = 0
    while input.count - offset >= FrameHeader.size {
        let h = UnsafeRawBufferPointer(rebasing: input[offset..<(offset + FrameHeader.size)])
        let length = Int(UInt32(h[12]) << 24 | UInt32(h[13]) << 16 | UInt32(h[14]) << 8 | UInt32(h[15]))
        let isPlainPublish =
            h[0] == FrameHeader.magic.0 && h[1] == FrameHeader.magic.1 && h[2] == 1
            && h[3] == MessageType.publish.rawValue && h[4] == 0 && h[5] == 0 && h[6] == 0 && h[7] == 0
        guard isPlainPublish, length <= input.count - offset - FrameHeader.size else { break }
        let start = offset + FrameHeader.size
        let compressed = compressor.compress(Array(input[start..<(start + length)]))
        // Incompressible payloads grow a little; one that no longer fits is not comparable.
        guard compressed.count <= Int(Limits().maxFrameBytes) else { break }
        let requestID = UInt32(h[8]) << 24 | UInt32(h[9]) << 16 | UInt32(h[10]) << 8 | UInt32(h[11])
        Frame(.publish, requestID: requestID, flags: FrameHeader.compressedFlag, payload: compressed)
            .encode(into: &out)
        offset = start + length
        rewritten += 1
    }
    guard rewritten > 0 else { return nil }
    out.append(contentsOf: input[offset...])
    return out
}

/// Feeds `input` to a client-side decoder, as the stream a server sends.
func runClient(_ input: UnsafeRawBufferPointer, split: Split, seed: UInt64) -> Run {
    var decoder = FrameDecoder(role: .client)
    var run = Run()
    outer: for range in split.ranges(count: input.count, seed: seed) {
        decoder.feed(UnsafeRawBufferPointer(rebasing: input[range]))
        while true {
            do {
                guard let frame = try decoder.next() else { break }
                check(frame.payload.count == Int(frame.header.payloadLength), "payload length mismatch")
                let message = try ServerMessage(frame: frame)
                if case .ack(let ack) = message {
                    check(ack.failures.count <= Int(ack.recordCount), "more failures than records")
                    for (i, failure) in ack.failures.enumerated() {
                        check(failure.index < ack.recordCount, "failure index out of range")
                        check(i == 0 || failure.index > ack.failures[i - 1].index, "failures not ascending")
                    }
                }
                run.events.append(.message(requestID: frame.header.requestID, message))
            } catch {
                // Any bad server frame makes the client drop the connection (PROTOCOL.md section 5).
                run.events.append(.error(code: error.code.rawValue, requestID: error.requestID))
                run.closed = true
                break outer
            }
        }
    }
    if !run.closed { run.buffered = decoder.bufferedCount }
    return run
}

func compare(_ runs: [Run], _ what: String) {
    for (split, run) in zip(Split.allCases, runs).dropFirst() where run != runs[0] {
        fatalError("fuzz invariant: \(what): split \(split) gives \(run), whole gives \(runs[0])")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let seed = fnv1a(input)
    let afterHello = Split.allCases.map { runServer(input, split: $0, seed: seed, handshake: true) }
    compare(afterHello, "server after HELLO")
    // The same PUBLISH payloads sent compressed must decode alike: this drives the zstd path
    // with real frames around fuzzed payloads, which mutation alone rarely produces.
    if let recompressed = recompressingPublishes(input, with: ZstdCompressor()) {
        let run = recompressed.withUnsafeBytes { runServer($0, split: .whole, seed: seed, handshake: true) }
        if run != afterHello[0] {
            fatalError("fuzz invariant: compressed PUBLISH gives \(run), uncompressed gives \(afterHello[0])")
        }
    }
    compare(Split.allCases.map { runServer(input, split: $0, seed: seed, handshake: false) }, "server, no HELLO")
    compare(Split.allCases.map { runClient(input, split: $0, seed: seed) }, "client")
    return 0
}
