import CRdKafka
import Foundation

/// A record read back from Kafka.
public struct ConsumedRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [(name: String, value: [UInt8])]
    /// Milliseconds since the epoch (create or log-append time), or nil when the record has none.
    public var timestamp: Int64? = nil
    /// Whether the key, or the value (a tombstone), is null rather than empty.
    public var keyIsNull = false
    public var valueIsNull = false

    /// The first header called `name`, as text.
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }
}

/// Reads whole topics from the beginning with manual partition assignment (no group).
///
/// Used to read back what Sluice published (tests, verification tools). Not thread-safe:
/// one caller at a time.
public final class KafkaConsumer {
    private let handle: OpaquePointer

    public init(bootstrapServers: String, properties: [String: String] = [:]) throws(KafkaError) {
        var settings: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", "sluice-reader-\(UUID().uuidString)"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("log_level", "3"),
        ]
        settings += properties.map { ($0.key, $0.value) }
        handle = try RDKafkaConfig(settings).makeClient(RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(handle)
    }

    deinit {
        rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }

    /// The number of partitions of `topic`, from the cluster's metadata.
    public func partitionCount(topic: String, timeoutMilliseconds: Int32 = 5_000) throws(KafkaError) -> Int {
        let topicHandle = rd_kafka_topic_new(handle, topic, nil)
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(.metadata, error: error)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1 else {
            throw KafkaError(.metadata, reason: "no metadata for topic \(topic)")
        }
        let entry = metadata.pointee.topics[0]
        guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.metadata, error: entry.err) }
        return Int(entry.partition_cnt)
    }

    /// Assigns every partition of `topic`, reading from the first offset.
    public func assign(topic: String, partitions: Int) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in 0..<partitions {
            rd_kafka_topic_partition_list_add(list, topic, Int32(partition))!.pointee.offset =
                Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        let error = rd_kafka_assign(handle, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, error: error) }
    }

    /// The next record, or nil if none arrived within the timeout.
    public func poll(timeoutMilliseconds: Int32) throws(KafkaError) -> ConsumedRecord? {
        guard let message = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let m = message.pointee
        if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return nil }
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, error: m.err) }
        return ConsumedRecord(message)
    }
}

extension ConsumedRecord {
    /// Copies a consumed message out of librdkafka.
    init(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &type)
        self.init(
            topic: String(cString: rd_kafka_topic_name(m.rkt)), partition: m.partition, offset: m.offset,
            key: m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) } ?? [],
            value: m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? [],
            headers: messageHeaders(message), timestamp: timestamp >= 0 ? timestamp : nil, keyIsNull: m.key == nil,
            valueIsNull: m.payload == nil)
    }
}
