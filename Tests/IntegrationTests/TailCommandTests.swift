import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A dev broker with `topic` (one partition) holding `values`, all with key `p`.
private func brokerWithTopic(_ topic: String, values: [String]) throws -> DevBroker {
    let broker = try DevBroker()
    try broker.createTopic(topic, partitions: 1)
    let records = values.map { TestRecord(key: "p", value: Array($0.utf8)) }
    _ = try produce(records, topic: topic, brokers: broker.bootstrapServers)
    return broker
}

@Suite("sluice tail against the dev broker", .timeLimit(.minutes(2)))
struct TailCommandTests {
    @Test func textAndJSONLinesShowEveryField() throws {
        let broker = try DevBroker()
        try broker.createTopic("tail-fields", partitions: 2)
        let placed = try produce(
            [
                TestRecord(
                    key: "player-1", value: Array("hello world".utf8),
                    headers: [("event-type", Array("login".utf8)), ("trace", Array("a\tb".utf8))],
                    timestamp: 1_714_564_800_123),
                TestRecord(
                    key: "tab\tkey", value: [0x68, 0x69, 0x0A, 0xFF, 0x00], headers: [("bin", [0xC3, 0x28])],
                    timestamp: 1_714_564_801_000),
                TestRecord(key: "ünï", value: Array("€ ok".utf8), timestamp: 1_714_564_802_000),
            ], topic: "tail-fields", brokers: broker.bootstrapServers)

        let text = try runTail(["tail-fields", "--brokers", broker.bootstrapServers])
        #expect(text.status == 0 && text.stderr.isEmpty, "\(text)")
        let place = placed.map { "\($0.partition)\t\($0.offset)" }
        #expect(
            Set(text.lines) == [
                "\(place[0])\t2024-05-01T12:00:00.123Z\tplayer-1\thello world\tevent-type=login\ttrace=a\\tb",
                "\(place[1])\t2024-05-01T12:00:01.000Z\ttab\\tkey\thi\\n\\xFF\\x00\tbin=\\xC3(",
                "\(place[2])\t2024-05-01T12:00:02.000Z\tünï\t€ ok",
            ], "\(text.stdout)")

        let json = try runTail(["tail-fields", "--brokers", broker.bootstrapServers, "--json"])
        #expect(json.status == 0, "\(json)")
        let objects = try json.lines.map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        #expect(objects.count == 3, "\(json.stdout)")
        func object(_ index: Int) throws -> [String: Any] {
            try #require(
                objects.first {
                    $0["partition"] as? Int == Int(placed[index].partition)
                        && $0["offset"] as? Int == Int(placed[index].offset)
                }, "record \(index) at \(placed[index]) in \(json.stdout)")
        }
        let first = try object(0)
        #expect(first["topic"] as? String == "tail-fields")
        #expect(first["timestamp"] as? Int == 1_714_564_800_123)
        #expect(first["key"] as? String == "player-1" && first["value"] as? String == "hello world")
        let headers = try #require(first["headers"] as? [[String: Any]])
        #expect(headers.map { $0["name"] as? String } == ["event-type", "trace"])
        #expect(headers.map { $0["value"] as? String } == ["login", "a\tb"])
        let second = try object(1)
        #expect(second["key"] as? String == "tab\tkey")
        #expect(
            (second["value"] as? [String: Any])?["base64"] as? String
                == Data([0x68, 0x69, 0x0A, 0xFF, 0x00]).base64EncodedString())
        let binary = try #require((second["headers"] as? [[String: Any]])?.first)
        #expect((binary["value"] as? [String: Any])?["base64"] as? String == Data([0xC3, 0x28]).base64EncodedString())
        #expect(try object(2)["value"] as? String == "€ ok")
    }

    @Test func startPointsOffsetsAndTimes() throws {
        let broker = try DevBroker()
        try broker.createTopic("tail-start", partitions: 2)
        // Two produce rounds, each one batch per partition: Tansu lists a partition's end as
        // the last batch's first offset + 1, so "end" and "-N" must not trust that.
        let early = (0..<8).map {
            TestRecord(key: "k\($0)", value: Array("early-\($0)".utf8), timestamp: 1_000_000 + $0)
        }
        let late = (0..<8).map { TestRecord(key: "k\($0)", value: Array("late-\($0)".utf8), timestamp: 2_000_000 + $0) }
        let placed =
            try produce(early, topic: "tail-start", brokers: broker.bootstrapServers)
            + produce(late, topic: "tail-start", brokers: broker.bootstrapServers)
        let partitions = Set(placed.map(\.partition))
        #expect(partitions.count == 2, "the keys spread over both partitions: \(placed)")
        let ends = Dictionary(grouping: placed, by: \.partition).mapValues { $0.map(\.offset).max()! + 1 }

        func read(_ arguments: [String]) throws -> Set<Placement> {
            let result = try runTail(["tail-start", "--brokers", broker.bootstrapServers] + arguments)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result)")
            return Set(result.lines.map(Placement.init))
        }
        #expect(try read([]) == Set(placed))
        #expect(try read(["--from", "2"]) == Set(placed.filter { $0.offset >= 2 }))
        #expect(try read(["--from", "-3"]) == Set(placed.filter { $0.offset >= ends[$0.partition]! - 3 }))
        #expect(try read(["--from", "100"]).isEmpty)
        #expect(try read(["--from", "end"]).isEmpty, "nothing that was there at the start")
        let lateOnes = Set(placed.suffix(late.count))
        #expect(try read(["--from", "@2000000"]) == lateOnes)
        #expect(try read(["--from", "1970-01-01T00:33:20Z"]) == lateOnes, "2,000,000 ms after the epoch")
        #expect(try read(["--from", "1970-01-01T01:33:20.004+01:00"]) == Set(placed.suffix(4)))
        #expect(try read(["--partition", "1"]) == Set(placed.filter { $0.partition == 1 }))

        let missing = try runTail(["tail-start", "--brokers", broker.bootstrapServers, "--partition", "7"])
        #expect(missing.status == 1)
        #expect(
            missing.stderr.contains("topic tail-start has 2 partitions (0-1); there is no partition 7"), "\(missing)")
        let bad = try runTail(["tail-start", "--brokers", broker.bootstrapServers, "--from", "yesterday"])
        #expect(bad.status != 0 && bad.stderr.contains("--from takes beginning, end"), "\(bad)")
    }

    @Test func maxStopsAfterThatManyRecordsFollowingOrNot() throws {
        let broker = try brokerWithTopic("tail-max", values: (0..<6).map { "v\($0)" })
        let three = try runTail(["tail-max", "--brokers", broker.bootstrapServers, "--max", "3"])
        #expect(three.status == 0)
        #expect(three.lines.map { $0.split(separator: "\t").last.map(String.init) } == ["v0", "v1", "v2"])
        let following = try runTail(["tail-max", "--brokers", broker.bootstrapServers, "--follow", "--max", "4"])
        #expect(following.status == 0, "--follow ends at --max, not at a signal: \(following)")
        #expect(following.lines.count == 4)
    }

    @Test func followPrintsRecordsPublishedAfterItStartedUntilSIGINT() throws {
        let broker = try brokerWithTopic("tail-follow", values: (0..<2).map { "old-\($0)" })
        let tail = try TailProcess(["tail-follow", "--brokers", broker.bootstrapServers, "--follow", "--json"])
        try tail.waitForValues(count: 2)
        let new = (0..<3).map { TestRecord(key: "p", value: Array("new-\($0)".utf8)) }
        _ = try produce(new, topic: "tail-follow", brokers: broker.bootstrapServers)
        try tail.waitForValues(count: 5)
        #expect(try tail.stop(SIGINT) == 0)
        #expect(tail.values == ["old-0", "old-1", "new-0", "new-1", "new-2"])
    }

    @Test func followFromTheEndPrintsOnlyNewRecords() throws {
        let broker = try DevBroker()
        try broker.createTopic("tail-end", partitions: 1)
        for round in 0..<2 {
            let old = (0..<5).map { TestRecord(key: "p", value: Array("old-\(round)-\($0)".utf8)) }
            _ = try produce(old, topic: "tail-end", brokers: broker.bootstrapServers)
        }
        let tail = try TailProcess([
            "tail-end", "--brokers", broker.bootstrapServers, "--from", "end", "--follow", "--json",
        ])
        // Nothing says when the tail has found the end: publish until a record shows.
        var sent = 0
        try waitUntil("a record published after the start appears", timeout: 20, interval: 0.2) {
            _ = try produce(
                [TestRecord(key: "p", value: Array("late-\(sent)".utf8))], topic: "tail-end",
                brokers: broker.bootstrapServers)
            sent += 1
            return !tail.values.isEmpty
        }
        _ = try produce(
            [TestRecord(key: "p", value: Array("last".utf8))], topic: "tail-end", brokers: broker.bootstrapServers)
        try tail.waitUntilValue("last")
        #expect(try tail.stop(SIGTERM) == 0)
        let values = tail.values
        #expect(!values.contains { $0.hasPrefix("old-") }, "\(values)")
        let first = try #require(values.first.flatMap { Int($0.dropFirst("late-".count)) }, "\(values)")
        #expect(values == (first..<sent).map { "late-\($0)" } + ["last"])
    }

    @Test func unknownTopicFailsAndIsNotCreated() throws {
        let broker = try DevBroker()
        for attempt in 1...2 {
            let result = try runTail(["tail-nosuch", "--brokers", broker.bootstrapServers])
            #expect(result.status == 1, "attempt \(attempt): \(result)")
            #expect(result.stdout.isEmpty)
            #expect(
                result.stderr
                    == "sluice tail: unknown topic tail-nosuch on the brokers at \(broker.bootstrapServers)\n",
                "attempt \(attempt) (the first must not have created it): \(result)")
        }
    }

    @Test func unreachableBrokersFailWithinTheTimeout() throws {
        let port = try freeTCPPort()
        let started = Date()
        let result = try runTail(["events", "--brokers", "127.0.0.1:\(port)", "--timeout", "1s"])
        #expect(result.status == 1)
        #expect(Date().timeIntervalSince(started) < 10, "bounded by --timeout")
        #expect(
            result.stderr.hasPrefix("sluice tail: no answer from the brokers at 127.0.0.1:\(port) within 1 s: "),
            "\(result)")
        #expect(result.stderr.contains("Connection refused"), "librdkafka's reason: \(result)")
    }

    @Test func brokersComeFromTheCommandLineThenTheEnvironmentThenTheConfigFile() throws {
        let broker = try DevBroker()
        try broker.createTopic("tail-config", partitions: 1)
        _ = try produce(
            [TestRecord(key: "p", value: Array("v".utf8))], topic: "tail-config", brokers: broker.bootstrapServers)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/sluice.yaml"
        try "kafka: { brokers: \"\(broker.bootstrapServers)\", socket.keepalive.enable: true }\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let dead = "127.0.0.1:\(try freeTCPPort())"

        let fromFile = try runTail(["tail-config", "--config", config])
        #expect(fromFile.status == 0 && fromFile.lines.count == 1, "\(fromFile)")
        let fromEnvironment = try runTail(
            ["tail-config", "--config", config, "--timeout", "1s"], environment: ["SLUICE_BROKERS": dead])
        #expect(fromEnvironment.status == 1)
        #expect(fromEnvironment.stderr.contains("no answer from the brokers at \(dead)"), "\(fromEnvironment)")
        #expect(fromEnvironment.stderr.hasSuffix("(brokers from SLUICE_BROKERS)\n"), "\(fromEnvironment)")
        let fromCommandLine = try runTail(
            ["tail-config", "--brokers", broker.bootstrapServers], environment: ["SLUICE_BROKERS": dead])
        #expect(fromCommandLine.status == 0 && fromCommandLine.lines.count == 1, "\(fromCommandLine)")
    }
}

/// A record to produce straight to the broker.
struct TestRecord {
    var key: String
    var value: [UInt8]
    var headers: [(String, [UInt8])] = []
    var timestamp: Int64 = 0
}

/// Where a record landed: from a delivery report, or from the first two columns of a text line.
struct Placement: Hashable, CustomStringConvertible {
    var partition: Int32
    var offset: Int64

    init(partition: Int32, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }

    init(_ line: String) {
        let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
        self.init(partition: Int32(columns[0]) ?? -1, offset: Int64(columns.count > 1 ? columns[1] : "") ?? -1)
    }

    var description: String { "\(partition)\t\(offset)" }
}

/// Produces `records` in order (one batch per partition) and returns where each one landed.
func produce(_ records: [TestRecord], topic: String, brokers: String) throws -> [Placement] {
    let reports = Mutex<[Int: Placement]>([:])
    let failures = Mutex<[String]>([])
    var configuration = ProducerConfiguration(bootstrapServers: brokers)
    configuration.lingerMilliseconds = 50
    let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "tail-test")) {
        opaque, outcome in
        switch outcome {
        case .delivered(let partition, let offset):
            reports.withLock { $0[Int(bitPattern: opaque)] = Placement(partition: partition, offset: offset) }
        case .failed(let error, _):
            failures.withLock { $0.append("\(error)") }
        }
    }
    defer { producer.close(flushTimeoutMilliseconds: 0) }
    let session = producer.session()
    for (index, record) in records.enumerated() {
        try Array(topic.utf8).withUnsafeBytes { topic in
            try Array(record.key.utf8).withUnsafeBytes { key in
                try record.value.withUnsafeBytes { value in
                    try session.produce(
                        topic: topic, key: key, value: value, timestamp: record.timestamp,
                        headerCount: record.headers.count, opaque: UnsafeMutableRawPointer(bitPattern: index + 1)
                    ) { writer in
                        for (name, value) in record.headers {
                            Array(name.utf8).withUnsafeBytes { name in
                                value.withUnsafeBytes { writer.add(name: name, value: $0) }
                            }
                        }
                    }
                }
            }
        }
    }
    producer.flush(timeoutMilliseconds: 20_000)
    try waitUntil("\(records.count) records delivered to \(topic)", timeout: 20) {
        if let failure = failures.withLock({ $0.first }) { throw TestFailure("delivery failed: \(failure)") }
        return reports.withLock { $0.count } == records.count
    }
    return reports.withLock { reports in (1...records.count).map { reports[$0]! } }
}

/// What a finished `sluice tail` printed.
struct TailResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    var description: String { "status \(status), stdout:\n\(stdout)stderr:\n\(stderr)" }
}

/// Runs `sluice tail ARGUMENTS` to completion, killing it after `timeout` seconds.
func runTail(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 30) throws -> TailResult {
    let tail = try TailProcess(arguments, environment: environment)
    try waitUntil("sluice tail \(arguments.joined(separator: " ")) exits", timeout: timeout, interval: 0.02) {
        !tail.process.isRunning
    }
    return tail.result()
}

/// A running `sluice tail`, its output collected as it comes.
final class TailProcess: Sendable {
    let process = Process()
    private let stdout = Collected()
    private let stderr = Collected()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: try sluiceExecutable())
        process.arguments = ["tail"] + arguments
        var merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if environment["SLUICE_BROKERS"] == nil { merged["SLUICE_BROKERS"] = nil }
        process.environment = merged
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        stdout.collect(from: output.fileHandleForReading)
        stderr.collect(from: errors.fileHandleForReading)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The `value` of every JSON line so far.
    var values: [String] {
        stdout.text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["value"] as? String
        }
    }

    func waitForValues(count: Int, timeout: Double = 20) throws {
        try waitUntil("sluice tail printed \(count) records (so far: \(stdout.text))", timeout: timeout) {
            guard process.isRunning else { throw TestFailure("sluice tail exited: \(result())") }
            return values.count >= count
        }
    }

    func waitUntilValue(_ value: String, timeout: Double = 20) throws {
        try waitUntil("sluice tail printed \(value)", timeout: timeout) { values.contains(value) }
    }

    /// Sends `signal` and returns the exit status, killing the process if it does not end within 10 s.
    func stop(_ signal: Int32) throws -> Int32 {
        kill(process.processIdentifier, signal)
        try waitUntil("sluice tail exits after signal \(signal)", timeout: 10) { !process.isRunning }
        return process.terminationStatus
    }

    func result() -> TailResult {
        process.waitUntilExit()
        return TailResult(status: process.terminationStatus, stdout: stdout.finished(), stderr: stderr.finished())
    }
}

/// Bytes read from a pipe on a thread of their own, until end of file.
private final class Collected: Sendable {
    private let data = Mutex(Data())
    private let done = Mutex(false)

    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }

    func collect(from handle: FileHandle) {
        Thread { [self] in
            while case let chunk = handle.availableData, !chunk.isEmpty { data.withLock { $0.append(chunk) } }
            done.withLock { $0 = true }
        }.start()
    }

    /// Everything, once the writer closed the pipe (it has exited).
    func finished() -> String {
        try? waitUntil("the pipe from sluice tail closes", timeout: 10) { done.withLock { $0 } }
        return text
    }
}
