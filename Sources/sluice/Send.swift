import ArgumentParser
import Foundation
import SluiceProtocol

/// `sluice send`: publishes `KEY<TAB>VALUE` lines from stdin and waits for their acks.
struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events read from stdin, one per line as KEY<TAB>VALUE.",
        discussion: "Exits 0 only once the gateway has acknowledged every event at the chosen level.")

    @OptionGroup var socket: SocketOption

    @Option(help: "Kafka topic to publish to.")
    var topic: String

    @Option(help: "Ack level: durable (in Kafka), accepted (queued in the gateway) or none.")
    var ack: String = "durable"

    @Option(help: "Event type header for every event.")
    var eventType: String = ""

    @Option(help: "Records per PUBLISH frame (at most the gateway's limit).")
    var batchSize: Int = 1_000

    @Option(help: "PUBLISH frames in flight before waiting for acks.")
    var window: Int = 16

    func validate() throws {
        guard AckLevel(name: ack) != nil else { throw ValidationError("--ack must be durable, accepted or none") }
        guard PublishBatch.isValidTopic(topic.utf8) else { throw ValidationError("invalid topic name \(topic)") }
        guard batchSize > 0, window > 0 else { throw ValidationError("--batch-size and --window must be positive") }
    }

    func run() throws {
        let level = AckLevel(name: ack)!
        let client = try GatewayClient(socketPath: socket.path)
        let perFrame = min(batchSize, Int(client.limits.maxRecordsPerFrame))
        let compressor = ZstdCompressor()
        var outstanding: [UInt32: Int] = [:]
        var sent = 0
        var acked = 0
        var failures: [String] = []

        func awaitReply() throws {
            let (id, message) = try client.readReply()
            switch message {
            case .ack(let ack):
                guard let count = outstanding.removeValue(forKey: id) else {
                    if level == .none {
                        failures += ack.failures.map { "record \($0.index) of a batch: \(describe($0.rawCode))" }
                        return
                    }
                    throw ClientError("ACK for unknown request \(id)")
                }
                acked += count - ack.failures.count
                failures += ack.failures.map { "record \($0.index) of batch \(id): \(describe($0.rawCode))" }
            case .error(let error):
                outstanding.removeValue(forKey: id)
                throw ClientError(error)
            case .pong:
                outstanding.removeValue(forKey: id)
            default:
                throw ClientError("unexpected reply \(message)")
            }
        }

        func flush(_ records: inout [OutgoingRecord], limitBytes: Int) throws {
            guard !records.isEmpty else { return }
            let payload = OutgoingRecord.encodePayload(records, ackLevel: level)
            guard payload.count <= limitBytes else {
                throw ClientError(
                    "a batch of \(records.count) events is larger than the gateway accepts; use a smaller --batch-size")
            }
            let id = try client.sendPublish(payload: compressor.compress(payload), compressed: true)
            sent += records.count
            if level != .none { outstanding[id] = records.count }
            records.removeAll(keepingCapacity: true)
            while outstanding.count >= window { try awaitReply() }
        }

        // All input is checked before anything is sent, so a bad line never leaves a
        // partial publish behind.
        var records: [OutgoingRecord] = []
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if line.isEmpty { continue }
            guard let tab = line.firstIndex(of: "\t") else {
                throw ClientError("line \(lineNumber): expected KEY<TAB>VALUE; nothing was sent")
            }
            let key = Array(line[..<tab].utf8)
            guard !key.isEmpty else { throw ClientError("line \(lineNumber): empty key; nothing was sent") }
            records.append(
                OutgoingRecord(
                    topic: topic, key: key, eventType: eventType,
                    value: Array(line[line.index(after: tab)...].utf8)))
        }
        var batch: [OutgoingRecord] = []
        batch.reserveCapacity(perFrame)
        for record in records {
            batch.append(record)
            if batch.count == perFrame { try flush(&batch, limitBytes: Int(client.limits.maxDecompressedBytes)) }
        }
        try flush(&batch, limitBytes: Int(client.limits.maxDecompressedBytes))
        if level == .none {
            // The PONG shows the gateway has read every batch; failures found later are
            // still reported if they arrive first, but nothing waits for them.
            outstanding[try client.ping()] = 0
        }
        while !outstanding.isEmpty { try awaitReply() }

        if !failures.isEmpty {
            for failure in failures.prefix(20) {
                FileHandle.standardError.write(Data("sluice send: \(failure)\n".utf8))
            }
            FileHandle.standardError.write(Data("sluice send: \(failures.count) of \(sent) events failed\n".utf8))
            throw ExitCode.failure
        }
        print(
            level == .none
                ? "sent \(sent) events (ack level none: not confirmed)" : "sent \(sent) events, \(acked) acknowledged")
    }
}

private func describe(_ rawCode: UInt16) -> String {
    ErrorCode(rawValue: rawCode).map(\.description) ?? "code \(rawCode)"
}
