import Foundation
import SluiceTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice check-config` with secrets: redacted output, warnings about files every user may
/// read, and librdkafka's own refusal of TLS and SASL settings that cannot work (issue #21).
@Suite("check-config and secrets", .timeLimit(.minutes(1)))
struct CheckConfigSecretsTests {
    @Test func secretsArePrintedRedactedAndReadableFilesWarnedAbout() throws {
        let sluice = try sluiceExecutable()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "key-pass-7731\n".write(toFile: directory + "/key-pass", atomically: true, encoding: .utf8)
        let config = directory + "/sluice.yaml"
        try """
        kafka:
          brokers: kafka-1:9093
          security.protocol: SASL_SSL
          sasl.mechanism: SCRAM-SHA-512
          sasl.username: ${CHECK_CONFIG_T1_USER}
          sasl.password: literal-secret-7731
          ssl.key.password-file: \(directory)/key-pass
        """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        chmod(directory + "/key-pass", 0o644)
        setenv("CHECK_CONFIG_T1_USER", "svc-sluice", 1)
        defer { unsetenv("CHECK_CONFIG_T1_USER") }

        let result = try run(sluice, ["check-config", config])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("sasl.username = svc-sluice (from $CHECK_CONFIG_T1_USER)"))
        #expect(result.output.contains("sasl.password = <redacted> (written in the configuration file)"))
        #expect(result.output.contains("ssl.key.password = <redacted> (from file \(directory)/key-pass)"))
        #expect(!result.output.contains("literal-secret-7731") && !result.output.contains("key-pass-7731"))
        #expect(result.output.contains("warning: \(config) holds kafka.sasl.password and every user may read it"))
        #expect(result.output.contains("warning: \(directory)/key-pass holds kafka.ssl.key.password"))

        chmod(config, 0o640)
        chmod(directory + "/key-pass", 0o600)
        #expect(try !run(sluice, ["check-config", config]).output.contains("warning"))
    }

    /// librdkafka's `debug=conf` dump prints some secrets in clear (its own list misses
    /// `sasl.oauthbearer.client.secret`); the producer check-config makes must not let it out.
    @Test func librdkafkasConfigurationDumpDoesNotLeakASecret() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/sluice.yaml"
        try """
        kafka:
          brokers: kafka-1:9093
          properties: { debug: conf }
          sasl.oauthbearer.client.secret: oauth-leak-check-5521
        """.write(toFile: config, atomically: false, encoding: .utf8)
        let result = try run(try sluiceExecutable(), ["check-config", config])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("oauth-leak-check-5521"), "\(result.output)")
    }

    @Test(arguments: [
        ("security.protocol: SASL_SSL\n  sasl.mechanism: PLAIN", "sasl.username and sasl.password must be set"),
        ("security.protocol: SASL_SSL\n  sasl.mechanism: GSSAPI", "No provider for SASL mechanism GSSAPI"),
        ("sasl.mechanism: PLAIN,SCRAM-SHA-256", "Invalid value for configuration property \"sasl.mechanisms\""),
        ("security.protocol: ssl\n  ssl.ca.location: /nonexistent/ca.pem", "ssl.ca.location failed"),
        (
            "sasl.password: ${CHECK_CONFIG_UNSET_VARIABLE}",
            "environment variable CHECK_CONFIG_UNSET_VARIABLE is not set"
        ),
        ("sasl.password-file: /nonexistent/password", "cannot read /nonexistent/password: No such file or directory"),
    ])
    func settingsThatCannotWorkAreRefused(kafka: String, reason: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/sluice.yaml"
        try "kafka:\n  brokers: kafka-1:9093\n  \(kafka)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try run(try sluiceExecutable(), ["check-config", config])
        #expect(result.status == 1)
        #expect(result.output.contains(reason), "\(result.output)")
    }
}
