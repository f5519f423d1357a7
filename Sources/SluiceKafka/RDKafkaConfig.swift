import CRdKafka
import Foundation

/// Owns an `rd_kafka_conf_t` until it is handed to `rd_kafka_new`.
struct RDKafkaConfig {
    let pointer: OpaquePointer

    /// Keeps the secret values of `properties` out of the errors this configuration throws.
    let redactor: Redactor

    /// librdkafka's own logger writes to stderr unredacted (its `debug=conf` dump prints
    /// `sasl.oauthbearer.client.secret` in clear), so a client made from this configuration logs
    /// nothing unless it sets a callback of its own, as the gateway's producer does.
    init(_ properties: [(String, String)]) throws(KafkaError) {
        pointer = rd_kafka_conf_new()
        rd_kafka_conf_set_log_cb(pointer) { _, _, _, _ in }
        redactor = Redactor(properties)
        for (name, value) in properties {
            var message = [CChar](repeating: 0, count: 512)
            if rd_kafka_conf_set(pointer, name, value, &message, message.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(pointer)
                // librdkafka's message may quote the value ("Invalid value "…" for configuration property").
                var reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                var shown = value
                if KafkaSecrets.isSecret(name) {
                    shown = KafkaSecrets.redacted
                    if !value.isEmpty { reason = reason.replacingOccurrences(of: value, with: shown) }
                }
                throw KafkaError(.configuration, reason: redactor.scrub("\(name)=\(shown): \(reason)"))
            }
        }
    }

    /// Creates the client; on success librdkafka owns the configuration.
    func makeClient(_ type: rd_kafka_type_t) throws(KafkaError) -> OpaquePointer {
        var message = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, pointer, &message, message.count) else {
            rd_kafka_conf_destroy(pointer)
            let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaError(.clientCreation, reason: redactor.scrub(reason))
        }
        return handle
    }
}

extension ProducerConfiguration {
    /// Throws when librdkafka does not know a property or refuses its value, or refuses to make
    /// a producer of them: what it checks at creation (SASL settings that do not fit together,
    /// the TLS files: CA, certificate, key and its password) is checked too, without connecting.
    public func check() throws(KafkaError) {
        // No brokers, so the client makes no connection; no logging, since the errors are thrown.
        var properties = librdkafkaProperties.filter { $0.0 != "bootstrap.servers" }
        properties += [("bootstrap.servers", ""), ("log_level", "0")]
        let config = try RDKafkaConfig(properties)
        let client = try config.makeClient(RD_KAFKA_PRODUCER)
        rd_kafka_destroy(client)
    }
}
