import CRdKafka
import Foundation
import SluiceSystem
import Synchronization

/// What reading a topic yields besides records.
public enum TopicReaderEvent: Sendable {
    case record(ConsumedRecord)
    /// The reader caught up with a partition's end (its high watermark) at `offset`.
    case endOfPartition(partition: Int32, offset: Int64)
}

/// Reads chosen partitions of one topic from chosen offsets, without a consumer group:
/// offsets are assigned, never committed, and topics are never auto-created.
///
/// Not thread-safe: one caller at a time. Client-wide errors (brokers down) are collected
/// and handed out by `takeWarnings()`; a fatal one is thrown by `poll`.
public final class TopicReader {
    private let handle: OpaquePointer
    private let errors = ReaderErrors()
    private let bootstrapServers: String
    /// The logical offsets of a partition's first record and of its end.
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
    public static let end = Int64(RD_KAFKA_OFFSET_END)
    /// How long metadata, offset look-ups and the end probe may take.
    public let timeoutMilliseconds: Int32

    /// Creates the client; `properties` (e.g. TLS or SASL settings) are applied over the defaults.
    public init(bootstrapServers: String, properties: [(String, String)] = [], timeoutMilliseconds: Int32 = 10_000)
        throws(KafkaError)
    {
        self.bootstrapServers = bootstrapServers
        self.timeoutMilliseconds = timeoutMilliseconds
        // A fetch that finds nothing new waits fetch.wait.max.ms: that is how long noticing the
        // end of a partition takes.
        var settings: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers), ("log_level", "2"), ("fetch.wait.max.ms", "100"),
        ]
        settings += properties.filter { $0.0 != "bootstrap.servers" }
        // Last, so pass-through properties cannot make a reader commit, join or create anything.
        settings += [
            ("group.id", "sluice-tail-\(UUID().uuidString)"), ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"), ("auto.offset.reset", "earliest"),
            ("allow.auto.create.topics", "false"), ("enable.partition.eof", "true"),
        ]
        let config = try RDKafkaConfig(settings)
        rd_kafka_conf_set_opaque(config.pointer, Unmanaged.passUnretained(errors).toOpaque())
        rd_kafka_conf_set_error_cb(config.pointer, readerErrorCallback)
        handle = try config.makeClient(RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(handle)
    }

    deinit {
        // Nothing to commit and no group to leave: closing would only wait for the brokers.
        rd_kafka_destroy_flags(handle, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
    }

    /// The number of partitions of `topic`; throws when the topic does not exist or no broker
    /// answers within the timeout.
    public func partitionCount(topic: String) throws(KafkaError) -> Int32 {
        let topicHandle = rd_kafka_topic_new(handle, topic, nil)
        defer { rd_kafka_topic_destroy(topicHandle) }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        while true {
            let left = Int32(max(0, Int64(deadline) - Int64(monotonicNanoseconds())) / 1_000_000)
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let error = rd_kafka_metadata(handle, 0, topicHandle, &metadata, max(left, 1))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw unreachable(error)
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            guard metadata.pointee.topic_cnt == 1 else {
                throw KafkaError(.metadata, reason: "the brokers sent no metadata for topic \(topic)")
            }
            let entry = metadata.pointee.topics[0]
            switch entry.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR where entry.partition_cnt > 0:
                return entry.partition_cnt
            case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                throw KafkaError(
                    .metadata, reason: "unknown topic \(topic) on the brokers at \(bootstrapServers)",
                    rawCode: entry.err.rawValue)
            case RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
                // A topic being created: its partitions appear shortly.
                guard left > 100 else {
                    throw KafkaError(.metadata, reason: "topic \(topic) has no partitions available yet")
                }
                Thread.sleep(forTimeInterval: 0.1)
            default:
                throw KafkaError(
                    .metadata, reason: "topic \(topic): \(describe(entry.err))", rawCode: entry.err.rawValue)
            }
        }
    }

    /// Each partition's end offset now, found by reading from the listed end until the
    /// reader catches up: a broker's ListOffsets answer alone may be too low (Tansu 0.6
    /// answers with the last batch's first offset + 1), the fetch's high watermark is not.
    public func endOffsets(topic: String, partitions: [Int32]) throws(KafkaError) -> [Int32: Int64] {
        try assign(topic: topic, offsets: partitions.map { ($0, Int64(RD_KAFKA_OFFSET_END)) })
        defer { rd_kafka_assign(handle, nil) }
        var ends: [Int32: Int64] = [:]
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        while ends.count < partitions.count {
            guard monotonicNanoseconds() < deadline else {
                let missing = partitions.filter { ends[$0] == nil }.map(String.init).joined(separator: ", ")
                throw KafkaError(
                    .consume,
                    reason: "could not reach the end of partition \(missing) of \(topic) within \(seconds) s"
                        + (errors.reason.map { ": \($0)" } ?? ""))
            }
            if case .endOfPartition(let partition, let offset) = try poll(timeoutMilliseconds: 100) {
                ends[partition] = offset
            }
        }
        return ends
    }

    /// For each partition, the first offset whose record's timestamp is at or after
    /// `milliseconds`, or nil where there is none. A broker may answer with an earlier
    /// offset (Tansu 0.6 answers 0), so readers still compare timestamps.
    public func offsets(atOrAfter milliseconds: Int64, topic: String, partitions: [Int32]) throws(KafkaError)
        -> [Int32: Int64?]
    {
        let list = partitionList(topic: topic, offsets: partitions.map { ($0, milliseconds) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let error = rd_kafka_offsets_for_times(handle, list, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw unreachable(error) }
        var result: [Int32: Int64?] = [:]
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            guard element.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(
                    .metadata, reason: "partition \(element.partition): \(describe(element.err))",
                    rawCode: element.err.rawValue)
            }
            result[element.partition] = element.offset >= 0 ? element.offset : nil
        }
        return result
    }

    /// Starts reading each listed partition at its offset (or a logical one: beginning, end).
    public func assign(topic: String, offsets: [(Int32, Int64)]) throws(KafkaError) {
        let list = partitionList(topic: topic, offsets: offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let error = rd_kafka_assign(handle, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, error: error) }
    }

    /// The next record or end of partition, or nil if none came within the timeout. Throws
    /// on errors that retrying will not cure; passing ones are left for `takeWarnings()`.
    public func poll(timeoutMilliseconds: Int32) throws(KafkaError) -> TopicReaderEvent? {
        let message = rd_kafka_consumer_poll(handle, timeoutMilliseconds)
        if let fatal = errors.takeFatal() { throw fatal }
        guard let message else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let m = message.pointee
        switch m.err {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            return .record(ConsumedRecord(message))
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            return .endOfPartition(partition: m.partition, offset: m.offset)
        default:
            let text = String(cString: rd_kafka_message_errstr(message))
            let error = KafkaError(
                .consume, reason: m.rkt == nil ? text : "partition \(m.partition): \(text)", rawCode: m.err.rawValue)
            guard error.isRetriable else { throw error }
            errors.add(error.reason)
            return nil
        }
    }

    /// Errors librdkafka reported and is retrying (e.g. every broker down), oldest first.
    public func takeWarnings() -> [String] { errors.takeWarnings() }

    private var seconds: String { String(format: "%g", Double(timeoutMilliseconds) / 1_000) }

    private func unreachable(_ error: rd_kafka_resp_err_t) -> KafkaError {
        // Serve the error callback: it says why (refused, name lookup failed, TLS...).
        if let message = rd_kafka_consumer_poll(handle, 0) { rd_kafka_message_destroy(message) }
        let reason = errors.reason ?? describe(error)
        return KafkaError(
            .metadata, reason: "no answer from the brokers at \(bootstrapServers) within \(seconds) s: \(reason)",
            rawCode: error.rawValue)
    }

    private func partitionList(topic: String, offsets: [(Int32, Int64)]) -> UnsafeMutablePointer<
        rd_kafka_topic_partition_list_t
    > {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for (partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, topic, partition)!.pointee.offset = offset
        }
        return list
    }
}

extension KafkaError {
    /// Whether the brokers said the topic does not exist.
    public var isUnknownTopic: Bool { rawCode == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue }
}

private func describe(_ error: rd_kafka_resp_err_t) -> String { String(cString: rd_kafka_err2str(error)) }

/// Client-wide errors from librdkafka's error callback, which runs inside `poll`.
private final class ReaderErrors: Sendable {
    private let state = Mutex<(warnings: [String], reasons: [String], fatal: KafkaError?)>(([], [], nil))

    /// Why the brokers cannot be reached: the first specific error (a refused connection,
    /// a failed name lookup) rather than the "all brokers are down" that follows it.
    var reason: String? {
        state.withLock { state in state.reasons.first { !$0.contains("brokers are down") } ?? state.reasons.last }
    }

    func add(_ text: String) {
        state.withLock {
            $0.warnings.append(text)
            $0.reasons.append(text)
            if $0.reasons.count > 20 { $0.reasons.removeFirst() }
        }
    }

    func setFatal(_ error: KafkaError) { state.withLock { $0.fatal = error } }

    func takeWarnings() -> [String] {
        state.withLock { state in
            defer { state.warnings = [] }
            return state.warnings
        }
    }

    func takeFatal() -> KafkaError? {
        state.withLock { state in
            defer { state.fatal = nil }
            return state.fatal
        }
    }
}

private func readerErrorCallback(
    _ client: OpaquePointer?, _ error: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let opaque else { return }
    let errors = Unmanaged<ReaderErrors>.fromOpaque(opaque).takeUnretainedValue()
    let text = reason.map { String(cString: $0) } ?? ""
    if error == RD_KAFKA_RESP_ERR__FATAL.rawValue {
        errors.setFatal(KafkaError(.consume, reason: text, rawCode: error))
    } else {
        errors.add(text)
    }
}
