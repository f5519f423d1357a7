import CRdKafka

/// An error from librdkafka or from this wrapper's use of it.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in the domain's terms.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        public static let configuration = Code(name: "configuration")
        public static let clientCreation = Code(name: "clientCreation")
        public static let queueFull = Code(name: "queueFull")
        public static let delivery = Code(name: "delivery")
        public static let produce = Code(name: "produce")
        public static let metadata = Code(name: "metadata")
        public static let consume = Code(name: "consume")
        public var description: String { name }
    }

    public var code: Code
    public var reason: String
    /// librdkafka's `rd_kafka_resp_err_t`, or 0 when the error did not come from it.
    public var rawCode: Int32
    public var file: String
    public var line: Int

    public init(_ code: Code, reason: String, rawCode: Int32 = 0, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.rawCode = rawCode
        self.file = file
        self.line = line
    }

    init(_ code: Code, error: rd_kafka_resp_err_t, file: String = #fileID, line: Int = #line) {
        self.init(
            code, reason: String(cString: rd_kafka_err2str(error)), rawCode: error.rawValue, file: file,
            line: line)
    }

    /// Whether sending the same record again may succeed (librdkafka's own classification
    /// of local transport errors plus the broker errors Kafka marks retriable).
    public var isRetriable: Bool {
        switch rd_kafka_resp_err_t(rawValue: rawCode) {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
            RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
            RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
            true
        default:
            false
        }
    }

    /// Whether a reachable broker reported the failure because of the record (Kafka's
    /// positive error codes), as opposed to a local one (timeouts, transport failures,
    /// purges) or one about the producer itself. Only these count as delivery attempts;
    /// an outage is not the record's fault.
    public var isBrokerReported: Bool { rawCode > 0 && !isProducerStateError }

    /// Whether the failure is the producer's, not the record's: a restarted or empty cluster
    /// fences it or does not know its id, or librdkafka raised a fatal error. Such a
    /// producer keeps failing until it is replaced by one with a new producer id.
    public var isProducerStateError: Bool {
        switch rd_kafka_resp_err_t(rawValue: rawCode) {
        case RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR__INCONSISTENT,
            RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
            RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
            RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
            true
        default:
            false
        }
    }

    /// Whether the record was taken back out of librdkafka's queue by `KafkaProducer.purge()`.
    public var isPurged: Bool {
        rawCode == RD_KAFKA_RESP_ERR__PURGE_QUEUE.rawValue || rawCode == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT.rawValue
    }

    /// Whether the record is too large for librdkafka's `message.max.bytes` or the broker's limit.
    public var isRecordTooLarge: Bool {
        rawCode == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue
            || rawCode == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue
    }

    /// Whether every broker connection is down (from librdkafka's error callback).
    public var isAllBrokersDown: Bool { rawCode == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue }

    /// Whether librdkafka raised a fatal error: the producer is unusable until replaced.
    public var isFatal: Bool { rawCode == RD_KAFKA_RESP_ERR__FATAL.rawValue }

    public var description: String { "Kafka \(code): \(reason) (\(rawCode)) at \(file):\(line)" }
}
