import CRdKafka

/// A librdkafka handle of its own that carries a mock cluster, so producers can be
/// replaced while the cluster (its topics and injected faults) stays.
final class MockClusterOwner: @unchecked Sendable {
    // `@unchecked Sendable`: both pointers are only passed to librdkafka's thread-safe mock API.
    private let handle: OpaquePointer
    fileprivate let pointer: OpaquePointer

    init(brokers: Int32) throws(KafkaError) {
        handle = try RDKafkaConfig([("log_level", "3")]).makeClient(RD_KAFKA_PRODUCER)
        guard let pointer = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw KafkaError(.clientCreation, reason: "cannot create a mock cluster")
        }
        self.pointer = pointer
    }

    /// The cluster; it keeps this owner alive as long as it is used.
    var cluster: KafkaMockCluster { KafkaMockCluster(owner: self) }

    deinit {
        rd_kafka_mock_cluster_destroy(pointer)
        rd_kafka_destroy(handle)
    }
}

/// librdkafka's mock cluster, for deterministic fault injection in tests.
public struct KafkaMockCluster: @unchecked Sendable {
    // `@unchecked Sendable`: librdkafka serialises mock-cluster calls on its own thread.
    let owner: MockClusterOwner
    var pointer: OpaquePointer { owner.pointer }

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

    /// The mock brokers' addresses, for a consumer that reads what was produced.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(pointer)) }

    /// Creates `topic` with `partitions` partitions.
    public func createTopic(_ topic: String, partitions: Int32) {
        _ = rd_kafka_mock_topic_create(pointer, topic, partitions, 1)
    }
}
