import CSluiceClient
import Foundation
import SluiceTestSupport
import Testing

/// Brokers behind TLS and SASL (issue #21): the dev broker behind stunnel with a CA the test
/// makes, and Tansu's own SASL. A refused connection opens the breaker, `/healthz` names
/// librdkafka's reason, records wait in the spool, and the fixed configuration delivers them.
@Suite("Brokers behind TLS and SASL", .serialized, .timeLimit(.minutes(5)))
struct BrokerSecurityTests {
    let players = (0..<20).map { "secure-player-\($0)" }

    /// Publishes `rounds` of every player's events durably through the C client.
    func publish(_ gateway: SecuredGateway, topic: String, rounds: Range<Int>) throws {
        var options = sluice_options()
        sluice_options_init(&options)
        let client = try #require(sluice_connect(gateway.socketPath, &options))
        defer { sluice_close(client) }
        for round in rounds { try publishRound(client, topic: topic, round: round, players: players) }
    }

    /// Publishing is refused by the brokers: the breaker opens, `/healthz` is 503 with a reason
    /// holding `expected` (librdkafka's words), and every acked record is in the spool.
    func expectRefused(_ gateway: SecuredGateway, topic: String, expected: String) throws {
        try publish(gateway, topic: topic, rounds: 0..<2)
        try waitUntil("the circuit opens", timeout: 20) { try gateway.circuitState() != "CLOSED" }
        try waitUntil("/healthz names the refusal (\(expected))", timeout: 20) {
            let health = try gateway.health()
            return health.status == 503 && health.body.contains(expected)
        }
        try waitUntil("every acked record is in the spool", timeout: 20) {
            try gateway.pending() == 2 * players.count
        }
    }

    /// After the fix the spool drains, `/healthz` is 200, and every record arrived in order.
    func expectDelivered(
        _ gateway: SecuredGateway, topic: String, brokers: String, consumer: [String: String], rounds: Range<Int>
    ) throws {
        try publish(gateway, topic: topic, rounds: rounds.upperBound..<rounds.upperBound + 1)
        try waitUntil("the fixed gateway drains its spool", timeout: 60) { try gateway.pending() == 0 }
        try waitUntil("/healthz answers 200", timeout: 20) { try gateway.health().status == 200 }
        let records = try consumeSecurely(
            topic: topic, brokers: brokers, properties: consumer, count: (rounds.count + 1) * players.count)
        try verifyAfterOutage(records, players: players, required: rounds.lowerBound..<rounds.upperBound + 1)
    }

    @Test func publishingThroughTLSWithTheTestCA() throws {
        let pki = try TestPKI()
        let broker = try SecureBroker(pki: pki)
        let gateway = try SecuredGateway(
            kafka: """
                brokers: \(broker.bootstrapServers)
                security.protocol: ssl
                ssl.ca.location: \(pki.caCertificate)
                """)
        try publish(gateway, topic: "tls-plain", rounds: 0..<3)
        #expect(try gateway.circuitState() == "CLOSED")
        #expect(try gateway.pending() == 0)
        let records = try consumeSecurely(
            topic: "tls-plain", brokers: broker.bootstrapServers,
            properties: ["security.protocol": "ssl", "ssl.ca.location": pki.caCertificate], count: 3 * players.count)
        try verifyAfterOutage(records, players: players, required: 0..<3)
    }

    /// A CA that did not sign the broker's certificate: refused, spooled, delivered once the CA
    /// file is replaced in place (same path, same configuration) and the gateway reloaded.
    @Test func aWrongCAFailsLoudlyAndLosesNothing() throws {
        let pki = try TestPKI()
        let broker = try SecureBroker(pki: pki)
        let trusted = pki.directory + "/trusted.pem"
        try FileManager.default.copyItem(atPath: pki.otherCACertificate, toPath: trusted)
        let kafka = "brokers: \(broker.bootstrapServers)\nsecurity.protocol: ssl\nssl.ca.location: \(trusted)"
        let gateway = try SecuredGateway(kafka: kafka)
        try expectRefused(gateway, topic: "tls-wrong-ca", expected: "SSL handshake failed")
        try Data(contentsOf: URL(fileURLWithPath: pki.caCertificate)).write(to: URL(fileURLWithPath: trusted))
        try gateway.applyFixedConfiguration(kafka: kafka, by: .reload)
        try expectDelivered(
            gateway, topic: "tls-wrong-ca", brokers: broker.bootstrapServers,
            consumer: ["security.protocol": "ssl", "ssl.ca.location": pki.caCertificate], rounds: 0..<2)
    }

    /// Client certificates (mutual TLS), the key's password from a file: an expired certificate
    /// is refused by the broker, and the renewed one, applied by a reload, delivers what waited.
    @Test func anExpiredClientCertificateFailsLoudlyAndLosesNothing() throws {
        let pki = try TestPKI()
        let broker = try SecureBroker(pki: pki, requireClientCertificate: true)
        let passwordFile = pki.directory + "/key-password"
        try (pki.clientKeyPassword + "\n").write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
        let kafka = { (certificate: String) in
            """
            brokers: \(broker.bootstrapServers)
            security.protocol: ssl
            ssl.ca.location: \(pki.caCertificate)
            ssl.certificate.location: \(certificate)
            ssl.key.location: \(pki.clientKey)
            ssl.key.password-file: \(passwordFile)
            """
        }
        let gateway = try SecuredGateway(kafka: kafka(pki.expiredClientCertificate))
        try expectRefused(gateway, topic: "mtls-expired", expected: "certificate expired")
        try gateway.applyFixedConfiguration(kafka: kafka(pki.clientCertificate), by: .reload)
        try expectDelivered(
            gateway, topic: "mtls-expired", brokers: broker.bootstrapServers,
            consumer: [
                "security.protocol": "ssl", "ssl.ca.location": pki.caCertificate,
                "ssl.certificate.location": pki.clientCertificate, "ssl.key.location": pki.clientKey,
                "ssl.key.password": pki.clientKeyPassword,
            ], rounds: 0..<2)
        #expect(!gateway.log.contains(pki.clientKeyPassword), "the key's password stays out of the log")
        #expect(try !gateway.stats().text.contains(pki.clientKeyPassword))
    }

    /// Tansu's `--authentication` offers SCRAM-SHA-256/512 (not PLAIN), and its in-memory store
    /// keeps no SCRAM users, so every login is refused: what a wrong password does.
    @Test func refusedSASLCredentialsOpenTheBreakerAndSpool() throws {
        let broker = try DevBroker(arguments: ["--authentication"])
        let password = "sasl-password-\(UInt32.random(in: 1_000...9_999))"
        let kafka = { (mechanism: String) in
            """
            brokers: \(broker.bootstrapServers)
            security.protocol: sasl_plaintext
            sasl.mechanism: \(mechanism)
            sasl.username: sluice
            sasl.password: ${SLUICE_TEST_KAFKA_PASSWORD}
            """
        }
        let gateway = try SecuredGateway(
            kafka: kafka("SCRAM-SHA-512"), environment: ["SLUICE_TEST_KAFKA_PASSWORD": password])
        try expectRefused(gateway, topic: "sasl-refused", expected: "SASL authentication error")
        #expect(!gateway.log.contains(password), "the password stays out of the log")
        #expect(try !gateway.stats().text.contains(password))
        // What waits in the spool outlives a restart on settings the broker refuses as well.
        try gateway.applyFixedConfiguration(kafka: kafka("SCRAM-SHA-256"), by: .restart)
        try waitUntil("the restarted gateway is refused again", timeout: 20) {
            try gateway.health().body.contains("SASL authentication error")
        }
        #expect(try gateway.pending() == 2 * players.count)
    }
}
