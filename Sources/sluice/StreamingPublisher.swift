import ArgumentParser
import Foundation
import SluiceProtocol

/// Batches lines into `PUBLISH` frames, keeps a window of them in flight and counts the acks.
struct StreamingPublisher {
    let client: GatewayClient
    let level: AckLevel
    let topic: String
    let eventType: String
    let perFrame: Int
    let window: Int
    private let compressor = ZstdCompressor()
    private var batch: [OutgoingRecord] = []
    /// The input line of each record of `batch`.
    private var batchLines: [Int] = []
    /// The input lines of each unacknowledged batch, by request id.
    private var outstanding: [UInt32: [Int]] = [:]
    private var sent = 0
    private var acked = 0
    private var skipped = 0
    private var failures: [String] = []

    init(client: GatewayClient, level: AckLevel, topic: String, eventType: String, perFrame: Int, window: Int) {
        self.client = client
        self.level = level
        self.topic = topic
        self.eventType = eventType
        self.perFrame = perFrame
        self.window = window
    }

    var hasBatch: Bool { !batch.isEmpty }

    /// Adds one `KEY<TAB>VALUE` line; a malformed one is reported on stderr and skipped.
    mutating func add(line number: Int, _ bytes: [UInt8]) throws {
        var bytes = bytes[...]
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        if bytes.isEmpty { return }
        guard let tab = bytes.firstIndex(of: UInt8(ascii: "\t")) else {
            return skip(number, "expected KEY<TAB>VALUE")
        }
        guard tab > bytes.startIndex else { return skip(number, "empty key") }
        guard String(validating: bytes, as: UTF8.self) != nil else { return skip(number, "not UTF-8") }
        batch.append(
            OutgoingRecord(
                topic: topic, key: Array(bytes[..<tab]), eventType: eventType, value: Array(bytes[(tab + 1)...])))
        batchLines.append(number)
        if batch.count >= perFrame { try flush() }
    }

    private mutating func skip(_ number: Int, _ reason: String) {
        skipped += 1
        FileHandle.standardError.write(Data("sluice send: line \(number): \(reason); skipped\n".utf8))
    }

    /// Sends the batch as one compressed frame, then waits while the window is full.
    mutating func flush() throws {
        guard !batch.isEmpty else { return }
        let payload = OutgoingRecord.encodePayload(batch, ackLevel: level)
        guard payload.count <= Int(client.limits.maxDecompressedBytes) else {
            throw ClientError(
                "a batch of \(batch.count) events is larger than the gateway accepts; use a smaller --batch-size")
        }
        let id = try client.sendPublish(payload: compressor.compress(payload), compressed: true)
        sent += batch.count
        if level != .none { outstanding[id] = batchLines }
        batch.removeAll(keepingCapacity: true)
        batchLines.removeAll(keepingCapacity: true)
        while outstanding.count >= window { try handle(client.readReply()) }
    }

    /// Handles the replies that have arrived (the socket is readable), without waiting for more.
    mutating func takeReplies() throws {
        try handle(client.readReply())
        while let reply = try client.bufferedReply() { try handle(reply) }
    }

    /// Sends what is left, waits for every ack and reports; throws a failure exit when anything failed.
    mutating func finish() throws {
        try flush()
        if level == .none {
            // The PONG shows the gateway has read every batch; failures found later are
            // still reported if they arrive first, but nothing waits for them.
            outstanding[try client.ping()] = []
        }
        while !outstanding.isEmpty { try handle(client.readReply()) }
        if !failures.isEmpty {
            for failure in failures.prefix(20) {
                FileHandle.standardError.write(Data("sluice send: \(failure)\n".utf8))
            }
            FileHandle.standardError.write(Data("sluice send: \(failures.count) of \(sent) events failed\n".utf8))
        }
        print(
            level == .none
                ? "sent \(sent) events (ack level none: not confirmed)" : "sent \(sent) events, \(acked) acknowledged")
        if skipped > 0 {
            FileHandle.standardError.write(Data("sluice send: \(skipped) malformed lines skipped\n".utf8))
        }
        if !failures.isEmpty || skipped > 0 { throw ExitCode.failure }
    }

    private mutating func handle(_ reply: (requestID: UInt32, message: ServerMessage)) throws {
        let (id, message) = reply
        switch message {
        case .ack(let ack):
            guard let lines = outstanding.removeValue(forKey: id) else {
                if level == .none {
                    failures += ack.failures.map { "record \($0.index) of a batch: \(describe($0.rawCode))" }
                    return
                }
                throw ClientError("ACK for unknown request \(id)")
            }
            acked += lines.count - ack.failures.count
            failures += ack.failures.map { failure in
                let line = Int(failure.index) < lines.count ? "line \(lines[Int(failure.index)])" : "a record"
                return "\(line): \(describe(failure.rawCode))"
            }
        case .error(let error):
            outstanding.removeValue(forKey: id)
            throw ClientError(error)
        case .pong:
            outstanding.removeValue(forKey: id)
        default:
            throw ClientError("unexpected reply \(message)")
        }
    }
}

private func describe(_ rawCode: UInt16) -> String {
    ErrorCode(rawValue: rawCode).map(\.description) ?? "code \(rawCode)"
}
