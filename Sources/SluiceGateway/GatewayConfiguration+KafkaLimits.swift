import SluiceKafka
import SluiceProtocol

extension GatewayConfiguration {
    /// How long the retry worker waits for a chunk's delivery reports: librdkafka's delivery
    /// timeout and a margin.
    var retryReportTimeoutMilliseconds: Int { producer.deliveryTimeoutMilliseconds + 5_000 }

    /// librdkafka's largest `message.max.bytes`.
    static let librdkafkaMessageMaxBytes = 1_000_000_000

    /// Bytes a record may take in Kafka beyond what `maxRecordBytes` counts.
    ///
    /// The record and batch framing, the stamped headers (`event-id`, `sluice-uid`,
    /// `sluice-pid`, the `event-type` name), per-header varints, and the `dlq-*` headers a
    /// dead-lettered record carries (its original topic and key, the error, the client).
    static func kafkaOverheadBytes(for limits: Limits) -> Int {
        16_384 + Int(limits.maxKeyBytes) + 32 * (Int(limits.maxHeaders) + 12)
    }

    /// The producer settings and announced limits, fitted to each other.
    ///
    /// Without a pass-through `message.max.bytes`, it is set so that every record accepted
    /// under `limits` can be published (and dead-lettered); with one, the announced
    /// `maxRecordBytes` is lowered to what it leaves room for.
    public func fittedToKafka() throws(ConfigurationError) -> (producer: ProducerConfiguration, limits: Limits) {
        var producer = self.producer
        var limits = self.limits
        let overhead = Self.kafkaOverheadBytes(for: limits)
        if let text = producer.properties["message.max.bytes"] {
            guard let configured = Int(text), configured > overhead + 1_024 else {
                throw ConfigurationError(
                    "kafka.properties.message.max.bytes must be a number over \(overhead + 1_024), not \(text)")
            }
            limits.maxRecordBytes = UInt32(min(Int(limits.maxRecordBytes), configured - overhead))
        } else {
            let needed = min(Int(limits.maxRecordBytes) + overhead, Self.librdkafkaMessageMaxBytes)
            limits.maxRecordBytes = UInt32(min(Int(limits.maxRecordBytes), needed - overhead))
            producer.properties["message.max.bytes"] = String(needed)
        }
        return (producer, limits)
    }
}
