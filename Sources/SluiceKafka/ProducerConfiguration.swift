/// How the producer talks to Kafka. The settings that keep Sluice's promises are fixed:
/// `enable.idempotence=true`, `acks=all` and `partitioner=murmur2_random` (the Java
/// client's partitioner), so a key lands on the partition a Java producer would pick.
public struct ProducerConfiguration: Sendable, Equatable {
    /// Comma-separated `host:port` list. Maps to `bootstrap.servers`. Default: `127.0.0.1:9092`.
    public var bootstrapServers = "127.0.0.1:9092"
    /// Codec for batches sent to Kafka: none, gzip, snappy, lz4 or zstd. Maps to `compression.codec`. Default: `lz4`.
    public var compression = "lz4"
    /// How long to wait to fill a batch. Maps to `linger.ms`. Default: 5.
    public var lingerMilliseconds = 5
    /// How long librdkafka tries to deliver a record before reporting failure.
    /// Maps to `message.timeout.ms`. Default: 30,000.
    public var deliveryTimeoutMilliseconds = 30_000
    /// Most records waiting in librdkafka's queue. Maps to `queue.buffering.max.messages`. Default: 10,000.
    ///
    /// A tenth of librdkafka's default: a full queue of 100,000 records with their headers is
    /// about 100 MB that every produced record's memory cycles through, beyond the caches, and
    /// the gateway then spent 1.4–1.6 times the CPU per event (docs/performance.md).
    public var queueMaxMessages = 10_000
    /// Most kilobytes waiting in librdkafka's queue. Maps to `queue.buffering.max.kbytes`. Default: 262,144.
    public var queueMaxKilobytes = 262_144
    /// Client id sent to brokers. Maps to `client.id`. Default: `sluice`.
    public var clientID = "sluice"
    /// Other librdkafka properties, passed through as they are; they override the above.
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String = "127.0.0.1:9092") {
        self.bootstrapServers = bootstrapServers
    }

    /// Every librdkafka property this configuration sets, in a stable order.
    public var librdkafkaProperties: [(String, String)] {
        var result: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("compression.codec", compression),
            ("linger.ms", String(lingerMilliseconds)),
            ("message.timeout.ms", String(deliveryTimeoutMilliseconds)),
            ("queue.buffering.max.messages", String(queueMaxMessages)),
            ("queue.buffering.max.kbytes", String(queueMaxKilobytes)),
        ]
        result += properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        // Last, so pass-through properties cannot weaken the delivery guarantees.
        result += [("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2_random")]
        return result
    }
}
