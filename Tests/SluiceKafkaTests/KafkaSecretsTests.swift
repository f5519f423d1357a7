import Foundation
import Logging
import SluiceKafka
import SluiceKafkaForTesting
import Synchronization
import Testing

/// Which properties are secret, and that their values stay out of errors and librdkafka's logs.
@Suite("Kafka secrets", .timeLimit(.minutes(1)))
struct KafkaSecretsTests {
    @Test(arguments: [
        "sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret", "sasl.jaas.config", "ssl_key", "sasl.oauthbearer.assertion.private.key.pem",
        "sasl.oauthbearer.assertion.private.key.passphrase",
    ])
    func secretProperties(name: String) {
        #expect(KafkaSecrets.isSecret(name))
    }

    @Test(arguments: [
        "sasl.username", "sasl.mechanism", "security.protocol", "ssl.ca.location", "ssl.key.location",
        "ssl.certificate.pem", "sasl.oauthbearer.token.endpoint.url", "bootstrap.servers",
    ])
    func plainProperties(name: String) {
        #expect(!KafkaSecrets.isSecret(name))
    }

    @Test func theRedactorReplacesSecretValuesOnly() {
        let redactor = Redactor([
            ("sasl.username", "alice"), ("sasl.password", "hunter2"), ("ssl.key.password", "hunter2-longer"),
            ("sasl.oauthbearer.client.secret", "ab"),
        ])
        #expect(
            redactor.scrub("user alice, pass hunter2, key hunter2-longer, ab")
                == "user alice, pass <redacted>, key <redacted>, ab")
    }

    /// librdkafka 2.8 prints `sasl.oauthbearer.client.secret` in clear in its `debug=conf` dump.
    @Test func librdkafkasConfigurationDumpReachesTheLogRedacted() throws {
        let lines = LogLines()
        var logger = Logger(label: "secrets-test") { _ in lines }
        logger.logLevel = .debug
        var configuration = ProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.properties = [
            "debug": "conf", "sasl.oauthbearer.client.secret": "oidc-secret-0042",
            "ssl.key.password": "key-password-0042",
        ]
        let producer = try KafkaProducer(configuration: configuration, logger: logger) { _, _ in }
        producer.close(flushTimeoutMilliseconds: 0)
        let text = lines.all.joined(separator: "\n")
        #expect(text.contains("sasl.oauthbearer.client.secret = <redacted>"), "\(text.prefix(2_000))")
        #expect(!text.contains("oidc-secret-0042"))
        #expect(!text.contains("key-password-0042"))
    }

    @Test func aRefusedSecretValueIsNotEchoed() {
        var configuration = ProducerConfiguration()
        configuration.properties = ["sasl.password": "hunter2-0042", "linger.ms": "hunter2-0042"]
        #expect {
            try configuration.check()
        } throws: { error in
            let reason = (error as? KafkaError)?.reason ?? ""
            return reason.contains("linger.ms=<redacted>") && !reason.contains("hunter2-0042")
        }
    }

    @Test func noRefusalWithoutAnError() throws {
        let mock = try KafkaMockCluster()
        let producer = try KafkaProducer(
            configuration: ProducerConfiguration(bootstrapServers: mock.bootstrapServers),
            logger: Logger(label: "test")
        ) { _, _ in }
        defer { producer.close(flushTimeoutMilliseconds: 0) }
        #expect(producer.connectionProblem == nil)
    }
}

/// Collects the messages logged through it.
final class LogLines: LogHandler, @unchecked Sendable {
    // `@unchecked Sendable`: `lines` is behind its mutex; the rest is set before logging starts.
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var all: [String] { lines.withLock { $0 } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.withLock { $0.append("\(event.message)") }
    }
}
