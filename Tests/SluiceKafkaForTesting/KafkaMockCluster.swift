import CRdKafka

/// librdkafka's in-process mock cluster, for deterministic fault injection in tests.
///
/// The cluster lives in a librdkafka handle of its own, so producers pointed at
/// `bootstrapServers` can be replaced while the cluster (its topics and injected faults) stays.
///
/// `@unchecked Sendable`: both pointers are immutable and only passed to librdkafka's
/// mock API, which serialises its calls on the cluster's own thread.
public final class KafkaMockCluster: @unchecked Sendable {
    private let handle: OpaquePointer
    private let pointer: OpaquePointer

    /// Starts a cluster of `brokers` brokers, numbered from 1.
    public init(brokers: Int32 = 1) throws(KafkaMockClusterError) {
        let config = rd_kafka_conf_new()
        var message = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_conf_set(config, "log_level", "3", &message, message.count)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, config, &message, message.count) else {
            rd_kafka_conf_destroy(config)
            throw KafkaMockClusterError(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        guard let pointer = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw KafkaMockClusterError("cannot create a mock cluster")
        }
        self.handle = handle
        self.pointer = pointer
    }

    deinit {
        rd_kafka_mock_cluster_destroy(pointer)
        rd_kafka_destroy(handle)
    }

    /// The mock brokers' addresses, for `bootstrap.servers` of a producer or consumer.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(pointer)) }

    /// Takes broker `id` down (connections refused) or back up.
    public func setBroker(_ id: Int32, up: Bool) {
        if up {
            _ = rd_kafka_mock_broker_set_up(pointer, id)
        } else {
            _ = rd_kafka_mock_broker_set_down(pointer, id)
        }
    }

    /// Delays every response of broker `id` by `milliseconds`.
    public func setRoundTripTime(broker id: Int32, milliseconds: Int32) {
        _ = rd_kafka_mock_broker_set_rtt(pointer, id, milliseconds)
    }

    /// Makes the next `count` Produce requests fail with broker error `code` (a Kafka error number).
    public func failProduceRequests(count: Int, code: Int32) {
        let errors = [rd_kafka_resp_err_t](repeating: rd_kafka_resp_err_t(rawValue: code), count: count)
        rd_kafka_mock_push_request_errors_array(pointer, 0, count, errors)
    }

    /// Creates `topic` with `partitions` partitions.
    public func createTopic(_ topic: String, partitions: Int32) {
        _ = rd_kafka_mock_topic_create(pointer, topic, partitions, 1)
    }
}

/// Why a mock cluster could not start.
public struct KafkaMockClusterError: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
