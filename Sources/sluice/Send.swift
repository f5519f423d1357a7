import ArgumentParser
import Foundation
import SluiceGateway
import SluiceProtocol
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice send`: publishes `KEY<TAB>VALUE` lines from stdin as they arrive and waits for their acks.
struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events read from stdin, one per line as KEY<TAB>VALUE, as they arrive.",
        discussion: """
            Lines are sent in batches of --batch-size, or after --linger when fewer arrive, so \
            `tail -F app.log | sluice send --topic T` publishes as the log grows. A malformed line is reported \
            and skipped. At end of input it waits for every ack; it exits 0 only if no line was skipped and \
            every event was acknowledged at the chosen level.
            """)

    @OptionGroup var socket: SocketOption

    @Option(help: "Kafka topic to publish to.")
    var topic: String

    @Option(help: "Ack level: durable (in Kafka), accepted (queued in the gateway) or none.")
    var ack: String = "durable"

    @Option(help: "Event type header for every event.")
    var eventType: String = ""

    @Option(help: "Records per PUBLISH frame (at most the gateway's limit).")
    var batchSize: Int = 1_000

    @Option(help: "How long a partial batch waits for more lines before it is sent, e.g. 100ms or 1s.")
    var linger: String = "100ms"

    @Option(help: "PUBLISH frames in flight before waiting for acks.")
    var window: Int = 16

    func validate() throws {
        guard AckLevel(name: ack) != nil else { throw ValidationError("--ack must be durable, accepted or none") }
        guard PublishBatch.isValidTopic(topic.utf8) else { throw ValidationError("invalid topic name \(topic)") }
        guard batchSize > 0, window > 0 else { throw ValidationError("--batch-size and --window must be positive") }
        guard parseDuration(linger) != nil else { throw ValidationError("--linger takes a duration, e.g. 100ms") }
    }

    func run() throws {
        let client = try GatewayClient(socketPath: socket.path)
        var publisher = StreamingPublisher(
            client: client, level: AckLevel(name: ack)!, topic: topic, eventType: eventType,
            perFrame: min(batchSize, Int(client.limits.maxRecordsPerFrame)), window: window)
        let lingerMilliseconds = Int(parseDuration(linger)!)
        var lines = LineSplitter()
        var input = [UInt8](repeating: 0, count: 65_536)
        var batchStartedAt: Int64 = 0
        var open = true
        while open {
            // Wait for input, for replies, or until the partial batch has lingered long enough.
            let lingerEnds = batchStartedAt + Int64(lingerMilliseconds)
            let wait = publisher.hasBatch ? max(0, Int(lingerEnds - monotonicMilliseconds())) : -1
            var fds = [
                pollfd(fd: 0, events: Int16(POLLIN), revents: 0),
                pollfd(fd: client.socketDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, Int32(clamping: wait))
            if ready < 0 && errno != EINTR { throw ClientError("poll: \(errnoText())") }
            if fds[1].revents != 0 { try publisher.takeReplies() }
            if fds[0].revents != 0 {
                let count = read(0, &input, input.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    open = false
                    if let last = lines.finish() { try add(last, to: &publisher, startedAt: &batchStartedAt) }
                } else {
                    for line in lines.feed(input[..<count]) {
                        try add(line, to: &publisher, startedAt: &batchStartedAt)
                    }
                }
            }
            if publisher.hasBatch && monotonicMilliseconds() - batchStartedAt >= Int64(lingerMilliseconds) {
                try publisher.flush()
            }
        }
        try publisher.finish()
    }

    private func add(
        _ line: (number: Int, bytes: [UInt8]), to publisher: inout StreamingPublisher, startedAt: inout Int64
    )
        throws
    {
        if !publisher.hasBatch { startedAt = monotonicMilliseconds() }
        try publisher.add(line: line.number, line.bytes)
    }
}

/// Cuts a byte stream into numbered lines, whatever the reads' boundaries.
struct LineSplitter {
    private var partial: [UInt8] = []
    private var number = 0

    mutating func feed(_ bytes: ArraySlice<UInt8>) -> [(number: Int, bytes: [UInt8])] {
        var lines: [(Int, [UInt8])] = []
        var start = bytes.startIndex
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            partial += bytes[start..<newline]
            number += 1
            lines.append((number, partial))
            partial.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        partial += bytes[start...]
        return lines
    }

    /// The last line when the input did not end with a newline.
    mutating func finish() -> (number: Int, bytes: [UInt8])? {
        guard !partial.isEmpty else { return nil }
        number += 1
        defer { partial = [] }
        return (number, partial)
    }
}
