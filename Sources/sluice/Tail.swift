import ArgumentParser
import Dispatch
import Foundation
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceSystem
import Synchronization

/// `sluice tail TOPIC`: prints a topic's records from the gateway's brokers, one per line.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a topic's records (key, value, headers, partition, offset) from Kafka.",
        discussion: """
            Brokers come from --brokers, then SLUICE_BROKERS, then the --config file (kafka.brokers and its \
            librdkafka properties, e.g. TLS or SASL settings), then 127.0.0.1:9092. Without --follow it stops at \
            the end each partition had when it started. Text lines are PARTITION, OFFSET, TIME, KEY, VALUE and a \
            NAME=VALUE per header, separated by tabs, with tabs, newlines, backslashes, other non-printable \
            characters and invalid UTF-8 escaped (\\t \\n \\\\ \\xNN \\u{N}); a null key or value is empty. \
            Exit status 0, or 1 with the reason on stderr (unknown topic, no broker answering, bad options).
            """)

    @Argument(help: "The topic to read.")
    var topic: String

    @Option(help: "Kafka bootstrap servers, HOST:PORT[,HOST:PORT] (environment: SLUICE_BROKERS).")
    var brokers: String?

    @Option(help: "The gateway's YAML configuration file, for its brokers and librdkafka properties.")
    var config: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Where to start in each partition: \(TailStart.help).", valueName: "position"))
    var from: String = "beginning"

    @Option(help: "Read only this partition (repeatable). Default: every partition.")
    var partition: [Int32] = []

    @Option(help: "Stop after this many records.")
    var max: Int?

    @Flag(help: "Keep reading new records until SIGINT or SIGTERM (or --max).")
    var follow = false

    @Flag(help: "One JSON object per line; bytes that are not UTF-8 as {\"base64\": \"...\"}.")
    var json = false

    @Option(help: "How long to wait for the brokers (connecting, looking offsets up, then any progress).")
    var timeout: String = "10s"

    func validate() throws {
        guard PublishBatch.isValidTopic(topic.utf8) else { throw ValidationError("invalid topic name \(topic)") }
        guard TailStart(from) != nil else { throw ValidationError("--from takes \(TailStart.help); not \(from)") }
        guard max.map({ $0 > 0 }) ?? true else { throw ValidationError("--max must be positive") }
        guard partition.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--partition must not be negative") }
        guard let milliseconds = parseDuration(timeout), milliseconds > 0, milliseconds <= Int32.max else {
            throw ValidationError("--timeout takes a duration, e.g. 10s")
        }
    }

    func run() throws {
        do {
            try tail()
        } catch let error as KafkaError {
            fail(error.reason)
        } catch let error as ConfigurationError {
            fail(error.description)
        }
    }

    private func fail(_ reason: String) -> Never {
        FileHandle.standardError.write(Data("sluice tail: \(reason)\n".utf8))
        Foundation.exit(1)
    }

    private func tail() throws {
        let (servers, properties, source) = try brokerSettings()
        let stop = StopFlag()
        let signals = stop.install()
        let reader = try TopicReader(
            bootstrapServers: servers, properties: properties, timeoutMilliseconds: Int32(parseDuration(timeout)!))
        let count = try partitionCount(reader, brokersFrom: source)
        let partitions = partition.isEmpty ? Array(0..<count) : Array(Set(partition)).sorted()
        if let missing = partitions.first(where: { $0 >= count }) {
            fail("topic \(topic) has \(count) partitions (0-\(count - 1)); there is no partition \(missing)")
        }
        let start = TailStart(from)!
        // Without --follow the reading stops at each partition's end as of now, so that is looked up.
        let ends = follow && start == .beginning ? nil : try reader.endOffsets(topic: topic, partitions: partitions)
        var offsets = partitions.map { ($0, start.offset(end: ends?[$0])) }
        if case .timestamp(let milliseconds) = start {
            let found = try reader.offsets(atOrAfter: milliseconds, topic: topic, partitions: partitions)
            offsets = offsets.map { partition, end in (partition, (found[partition] ?? nil) ?? end) }
        }
        try reader.assign(topic: topic, offsets: offsets)
        var progress = TailProgress(
            ends: follow ? nil : ends, starts: Dictionary(uniqueKeysWithValues: offsets), max: max)
        if case .timestamp(let milliseconds) = start { progress.notBefore = milliseconds }
        try read(reader, &progress, stop)
        withExtendedLifetime(signals) {}
    }

    private func read(_ reader: TopicReader, _ progress: inout TailProgress, _ stop: StopFlag) throws {
        var output = TailOutput()
        let format: TailFormat = json ? .json : .text
        let stallLimit = UInt64(parseDuration(timeout)!) * 1_000_000
        var lastProgress = monotonicNanoseconds()
        while !progress.isDone && output.isOpen && !stop.isSet {
            let event = try reader.poll(timeoutMilliseconds: output.buffer.isEmpty ? 100 : 0)
            for warning in reader.takeWarnings() {
                FileHandle.standardError.write(Data("sluice tail: \(warning)\n".utf8))
            }
            guard let event else {
                output.flush()
                let stalled = monotonicNanoseconds() - lastProgress > stallLimit
                if stalled && !follow {
                    fail("no progress reading \(topic) for \(timeout) (\(progress.remaining) partitions unfinished)")
                }
                continue
            }
            lastProgress = monotonicNanoseconds()
            if let record = progress.accept(event) { output.append(record, as: format) }
        }
        output.flush()
    }

    /// The topic's partition count; a failure to connect says where the brokers came from.
    private func partitionCount(_ reader: TopicReader, brokersFrom source: String) throws -> Int32 {
        do {
            return try reader.partitionCount(topic: topic)
        } catch {
            guard !error.isUnknownTopic && source != "--brokers" else { throw error }
            throw KafkaError(error.code, reason: "\(error.reason) (brokers from \(source))")
        }
    }

    /// Bootstrap servers, librdkafka properties, and where the servers came from.
    private func brokerSettings() throws -> (String, [(String, String)], String) {
        var settings = GatewayConfiguration()
        var source = "the default"
        if let config {
            try settings.apply(yamlFile: config)
            source = config
        }
        if let value = environment("SLUICE_BROKERS") {
            settings.producer.bootstrapServers = value
            source = "SLUICE_BROKERS"
        }
        if let brokers {
            settings.producer.bootstrapServers = brokers
            source = "--brokers"
        }
        let properties = settings.producer.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return (settings.producer.bootstrapServers, properties, source)
    }
}

/// Which partitions are finished and how many records were printed.
struct TailProgress {
    /// Each partition's end as of the start, when reading stops there (no --follow).
    var ends: [Int32: Int64]?
    var starts: [Int32: Int64]
    var max: Int?
    /// With a start time: records before it are skipped until a partition reaches it (the
    /// broker may start a partition earlier than asked).
    var notBefore: Int64?
    private var unfinished: Set<Int32> = []
    private var reachedTime: Set<Int32> = []
    private var printed = 0

    init(ends: [Int32: Int64]?, starts: [Int32: Int64], max: Int?) {
        self.ends = ends
        self.starts = starts
        self.max = max
        if let ends {
            unfinished = Set(
                starts.compactMap { partition, start in
                    ends[partition]! > 0 && start < ends[partition]! ? partition : nil
                })
        }
    }

    var remaining: Int { unfinished.count }
    var isDone: Bool { (ends != nil && unfinished.isEmpty) || max.map { printed >= $0 } == true }

    /// The record to print for `event`, if any, noting what it finished.
    mutating func accept(_ event: TopicReaderEvent) -> ConsumedRecord? {
        switch event {
        case .endOfPartition(let partition, _):
            unfinished.remove(partition)
            return nil
        case .record(let record):
            if let end = ends?[record.partition] {
                guard unfinished.contains(record.partition), record.offset < end else { return nil }
                if record.offset + 1 >= end { unfinished.remove(record.partition) }
            }
            if let notBefore, !reachedTime.contains(record.partition) {
                guard (record.timestamp ?? .min) >= notBefore else { return nil }
                reachedTime.insert(record.partition)
            }
            printed += 1
            return record
        }
    }
}

/// Set by SIGINT or SIGTERM; a second signal ends the process at once.
final class StopFlag: Sendable {
    private let flag = Atomic(false)

    var isSet: Bool { flag.load(ordering: .acquiring) }

    func install() -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if flag.exchange(true, ordering: .acquiringAndReleasing) { _exit(1) }
            }
            source.activate()
            return source
        }
    }
}
