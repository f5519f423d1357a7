import Foundation
import SluiceKafka
import SluiceTestSupport
import Testing

@testable import SluiceGateway

#if canImport(Glibc)
    import Glibc
#endif

/// `${NAME}` and `X-file` in the `kafka:` section, and how secrets are shown (issue #21).
@Suite("Configuration secrets")
struct SecretsConfigurationTests {
    /// Applies `kafka` (the body of a `kafka:` section) with `environment` as the process's.
    func applyKafka(_ kafka: String, environment: [String: String] = [:]) throws -> GatewayConfiguration {
        // setenv is process-wide: each test uses its own variable names.
        for (name, value) in environment { setenv(name, value, 1) }
        defer { for name in environment.keys { unsetenv(name) } }
        var configuration = GatewayConfiguration()
        let indented = kafka.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        try configuration.apply(yaml: "kafka:\n" + indented)
        return configuration
    }

    func configurationError(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as ConfigurationError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    @Test func environmentReferencesAreReplacedInEveryKafkaString() throws {
        let configuration = try applyKafka(
            """
            brokers: ${SECRETS_T1_BROKERS}
            linger: ${SECRETS_T1_LINGER}
            sasl.username: svc-${SECRETS_T1_USER}
            properties:
              sasl.password: ${SECRETS_T1_PASSWORD}
            retry: { interval: "${SECRETS_T1_INTERVAL}" }
            """,
            environment: [
                "SECRETS_T1_BROKERS": "k1:9093,k2:9093", "SECRETS_T1_LINGER": "7ms", "SECRETS_T1_USER": "game",
                "SECRETS_T1_PASSWORD": "pa$$word {x}", "SECRETS_T1_INTERVAL": "2s",
            ])
        #expect(configuration.producer.bootstrapServers == "k1:9093,k2:9093")
        #expect(configuration.producer.lingerMilliseconds == 7)
        #expect(configuration.producer.properties["sasl.username"] == "svc-game")
        #expect(configuration.producer.properties["sasl.password"] == "pa$$word {x}", "a value is not expanded again")
        #expect(configuration.retry.intervalMilliseconds == 2_000)
        #expect(configuration.kafkaSources.sources["sasl.password"] == .environment(["SECRETS_T1_PASSWORD"]))
        #expect(configuration.kafkaSources.sources["brokers"] == .environment(["SECRETS_T1_BROKERS"]))
        #expect(configuration.kafkaSources.literalSecrets.isEmpty)
    }

    @Test func anUnsetVariableIsAnErrorNamingIt() {
        let error = configurationError { _ = try applyKafka("sasl.password: ${SECRETS_T2_NOT_SET}") }
        #expect(error == "kafka.sasl.password: environment variable SECRETS_T2_NOT_SET is not set")
        let unclosed = configurationError { _ = try applyKafka("sasl.password: ${SECRETS_T2") }
        #expect(unclosed?.contains("without a closing }") == true)
        let bad = configurationError { _ = try applyKafka("sasl.password: ${1X}") }
        #expect(bad?.contains("${1X} is not an environment variable name") == true)
    }

    @Test func dollarDollarBraceIsALiteralAndALoneDollarStays() throws {
        let resolver = SecretResolver(environment: ["A": "x"])
        #expect(try resolver.substitute("p$${A}$q${A}$", in: "k").value == "p${A}$qx$")
        #expect(try resolver.substitute("no dollar", in: "k").names.isEmpty)
    }

    @Test func aFileGivesThePropertyItsContentWithoutTheTrailingNewline() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "s3cret-from-file\n\n".write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        try "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\r\n".write(
            toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        let configuration = try applyKafka(
            """
            sasl.password-file: \(directory)/password
            properties:
              ssl.ca.pem-file: ${SECRETS_T3_DIR}/ca.pem
            """, environment: ["SECRETS_T3_DIR": directory])
        #expect(configuration.producer.properties["sasl.password"] == "s3cret-from-file")
        #expect(configuration.producer.properties["ssl.ca.pem"]?.hasSuffix("-----END CERTIFICATE-----") == true)
        #expect(configuration.producer.properties["sasl.password-file"] == nil)
        #expect(configuration.kafkaSources.sources["sasl.password"] == .file(directory + "/password"))
        #expect(configuration.kafkaSources.sources["ssl.ca.pem"] == .file(directory + "/ca.pem"))
    }

    @Test func anUnreadableFileOrBothSpellingsAreErrors() throws {
        let missing = configurationError { _ = try applyKafka("sasl.password-file: /nonexistent/sluice-pass") }
        #expect(
            missing == "kafka.sasl.password-file: cannot read /nonexistent/sluice-pass: No such file or directory")
        let both = configurationError {
            _ = try applyKafka("sasl.password: a\nsasl.password-file: /etc/hostname")
        }
        #expect(both == "kafka.sasl.password-file and kafka.sasl.password are both set: keep one")
    }

    @Test func secretsArePrintedRedactedWithWhereTheyCameFrom() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "key-pass-0001".write(toFile: directory + "/key-pass", atomically: true, encoding: .utf8)
        let configuration = try applyKafka(
            """
            security.protocol: SASL_SSL
            sasl.mechanism: PLAIN
            sasl.username: ${SECRETS_T4_USER}
            sasl.password: hunter2-literal
            ssl.key.password-file: \(directory)/key-pass
            sasl.oauthbearer.client.secret: ${SECRETS_T4_OIDC}
            """, environment: ["SECRETS_T4_USER": "api-key-1", "SECRETS_T4_OIDC": "oidc-secret-0001"])
        let printed = Dictionary(
            uniqueKeysWithValues: configuration.printableKafkaProperties.map { ($0.name, $0.value) })
        #expect(printed["security.protocol"] == "SASL_SSL")
        #expect(printed["sasl.username"] == "api-key-1 (from $SECRETS_T4_USER)")
        #expect(printed["sasl.password"] == "<redacted> (written in the configuration file)")
        #expect(printed["ssl.key.password"] == "<redacted> (from file \(directory)/key-pass)")
        #expect(printed["sasl.oauthbearer.client.secret"] == "<redacted> (from $SECRETS_T4_OIDC)")
        let all = printed.values.joined()
        for secret in ["hunter2-literal", "key-pass-0001", "oidc-secret-0001"] { #expect(!all.contains(secret)) }
        #expect(configuration.kafkaSources.literalSecrets == ["sasl.password"])
    }

    @Test func filesHoldingSecretsThatEveryoneMayReadAreWarnedAbout() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/sluice.yaml"
        try "kafka:\n  sasl.password: hunter2-literal\n  ssl.key.password-file: \(directory)/key-pass\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        try "key-pass-0001".write(toFile: directory + "/key-pass", atomically: true, encoding: .utf8)
        var configuration = GatewayConfiguration()
        try configuration.apply(yamlFile: config)

        chmod(config, 0o644)
        chmod(directory + "/key-pass", 0o604)
        let warnings = configuration.secretFileWarnings(configFile: config)
        #expect(warnings.count == 2)
        #expect(
            warnings.first?.hasPrefix("\(config) holds kafka.sasl.password and every user may read it (mode 0644)")
                == true)
        #expect(warnings.last?.hasPrefix("\(directory)/key-pass holds kafka.ssl.key.password") == true)

        chmod(config, 0o640)
        chmod(directory + "/key-pass", 0o600)
        #expect(configuration.secretFileWarnings(configFile: config).isEmpty)
    }

    @Test func aConfigFileWithoutLiteralSecretsNeedsNoWarning() throws {
        let configuration = try applyKafka("sasl.password: ${SECRETS_T5}", environment: ["SECRETS_T5": "x-secret"])
        #expect(configuration.secretFileWarnings(configFile: "/etc/hostname").isEmpty)
    }

    @Test func librdkafkasRefusalOfASecretDoesNotEchoIt() {
        var configuration = GatewayConfiguration()
        configuration.producer.properties["sasl.password"] = "hunter2-echo"
        // An invalid value librdkafka quotes in its message, which happens to be the secret.
        configuration.producer.properties["compression.codec"] = "hunter2-echo"
        let error = configurationError { try configuration.validate() }
        #expect(error?.contains("Invalid value") == true)
        #expect(error?.contains("hunter2-echo") == false, "\(error ?? "")")
    }

    @Test func aYAMLSyntaxErrorDoesNotQuoteTheLine() {
        var configuration = GatewayConfiguration()
        let error = configurationError {
            try configuration.apply(yaml: "kafka:\n  sasl.password: @hunter2-yaml\n")
        }
        #expect(error?.hasPrefix("not valid YAML: line 2, column 18: ") == true, "\(error ?? "")")
        #expect(error?.contains("hunter2-yaml") == false, "\(error ?? "")")
    }

    @Test func aRefusalMakesTheSnapshotUnhealthyWithLibrdkafkasWords() {
        let stats = GatewayStats()
        func snapshot(refusal: String?) -> StatsSnapshot {
            stats.snapshot(
                queueDepth: 0, brokers: "b:1", circuitState: .open, storeFailures: true, spool: [:], spoolByTopic: [:],
                oldestPendingAt: nil, now: 0, kafkaRefusal: refusal)
        }
        #expect(snapshot(refusal: nil).health.healthy)
        let snapshot = snapshot(refusal: "ssl://b:1/bootstrap: SSL handshake failed: certificate verify failed")
        #expect(!snapshot.health.healthy)
        #expect(
            snapshot.health.problems == [
                "Kafka refuses this gateway: ssl://b:1/bootstrap: SSL handshake failed: certificate verify failed"
            ])
    }
}
