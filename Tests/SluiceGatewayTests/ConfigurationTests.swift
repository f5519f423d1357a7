import SluiceGateway
import SluiceKafka
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test func yamlOverridesDefaults() throws {
        var configuration = GatewayConfiguration()
        try configuration.apply(
            yaml: """
                socket: /run/sluice/s.sock
                socketMode: "0600"
                shutdownFlushTimeoutMs: 2500
                kafka:
                  brokers: k1:9092,k2:9092
                  compression: zstd
                  lingerMs: 20
                  properties:
                    socket.keepalive.enable: true
                  fallback: { store-failures: false }
                  retry: { interval: 5000, backoff: [1000, 2000], max-attempts: 5 }
                  circuit-breaker: { failure-rate-threshold: 40, wait-duration-in-open-state: 2000 }
                limits:
                  maxRecordsPerFrame: 500
                  maxUnackedBytes: 2097152
                  handshakeTimeoutMs: 1500
                  idleTimeoutMs: 0
                  maxConnections: 64
                access:
                  socketGroup: sluice
                  allowedUIDs: [1000, 1001]
                  allowedGIDs: [50]
                  topicPrefixesByUID: { 1000: [game., audit.] }
                  topicPrefixesByGID: { 50: shared. }
                spool: { path: /var/tmp/s.db, synchronous: normal, maxBytes: 1000000 }
                """)
        #expect(configuration.socketPath == "/run/sluice/s.sock")
        #expect(configuration.socketMode == 0o600)
        #expect(configuration.shutdownFlushTimeoutMilliseconds == 2_500)
        #expect(configuration.producer.bootstrapServers == "k1:9092,k2:9092")
        #expect(configuration.producer.compression == "zstd")
        #expect(configuration.producer.lingerMilliseconds == 20)
        #expect(configuration.producer.properties == ["socket.keepalive.enable": "true"])
        #expect(configuration.limits.maxRecordsPerFrame == 500)
        #expect(configuration.limits.maxFrameBytes == 1_048_576, "unset limits keep their defaults")
        #expect(configuration.limits.maxUnackedBytes == 2_097_152)
        #expect(configuration.limits.handshakeTimeoutMilliseconds == 1_500)
        #expect(configuration.limits.idleTimeoutMilliseconds == 0)
        #expect(configuration.limits.maxConnections == 64)
        #expect(configuration.access.socketGroup == "sluice")
        #expect(configuration.access.allowedUIDs == [1000, 1001])
        #expect(configuration.access.allowedGIDs == [50])
        #expect(configuration.access.topicPrefixes(uid: 1000, gid: 50) == ["game.", "audit.", "shared."])
        #expect(configuration.access.topicPrefixes(uid: 7, gid: 7) == nil)
        #expect(configuration.access.admits(uid: 7, gid: 50) && !configuration.access.admits(uid: 7, gid: 7))
        #expect(configuration.spoolPath == "/var/tmp/s.db")
        #expect(configuration.spoolMaxBytes == 1_000_000)
        #expect(configuration.storeFailures == false)
        #expect(configuration.retry.intervalMilliseconds == 5_000)
        #expect(configuration.retry.backoffMilliseconds == [1_000, 2_000])
        #expect(configuration.retry.backoff(afterAttempts: 3) == 2_000, "the last backoff repeats")
        #expect(configuration.retry.maxAttempts == 5)
        #expect(configuration.circuitBreaker.failureRateThreshold == 40)
        #expect(configuration.circuitBreaker.waitDurationInOpenStateMilliseconds == 2_000)
        try configuration.validate()
    }

    @Test(arguments: [
        "sockt: /tmp/x.sock", "kafka: {brokers: a, lingerMS: 3}", "limits: {maxKeyBytes: 70000}",
        "socketMode: rw", "kafka: [1, 2]", "- a list",
    ])
    func mistakesAreReported(yaml: String) {
        var configuration = GatewayConfiguration()
        #expect(throws: ConfigurationError.self) { try configuration.apply(yaml: yaml) }
    }

    @Test(arguments: ["socketMode: 0640", "socketMode: \"0640\"", "socketMode: \"640\""])
    func socketModeQuotedOrNot(yaml: String) throws {
        var configuration = GatewayConfiguration()
        try configuration.apply(yaml: yaml)
        #expect(configuration.socketMode == 0o640)
    }

    @Test func passThroughCannotWeakenDeliveryGuarantees() {
        var configuration = GatewayConfiguration()
        configuration.producer.properties = ["acks": "0", "enable.idempotence": "false", "linger.ms": "50"]
        let properties = configuration.producer.librdkafkaProperties
        func last(_ name: String) -> String? { properties.last { $0.0 == name }?.1 }
        #expect(last("acks") == "all")
        #expect(last("enable.idempotence") == "true")
        #expect(last("partitioner") == "murmur2_random")
        #expect(last("linger.ms") == "50", "other properties do pass through")
    }

    @Test func validationNamesTheProblem() {
        var configuration = GatewayConfiguration()
        configuration.socketPath = String(repeating: "x", count: 200)
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration = GatewayConfiguration()
        configuration.producer.bootstrapServers = ""
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}

@Suite("message.max.bytes fits the announced limits")
struct KafkaLimitsTests {
    @Test func messageMaxBytesIsSetToFitTheRecordLimitAndTheStampedHeaders() throws {
        var configuration = GatewayConfiguration()
        configuration.limits.maxRecordBytes = 2_000_000
        let (producer, limits) = try configuration.fittedToKafka()
        let set = try #require(producer.librdkafkaProperties.last { $0.0 == "message.max.bytes" }.flatMap { Int($0.1) })
        #expect(limits.maxRecordBytes == 2_000_000)
        #expect(set >= 2_000_000 + 44 + 20 + 20 + 1_024 + 249, "record, stamped headers, a DLQ key and topic")
    }

    @Test func aConfiguredMessageMaxBytesLowersTheAnnouncedRecordLimit() throws {
        var configuration = GatewayConfiguration()
        configuration.producer.properties["message.max.bytes"] = "500000"
        let (producer, limits) = try configuration.fittedToKafka()
        #expect(producer.properties["message.max.bytes"] == "500000")
        #expect(limits.maxRecordBytes < 500_000 && limits.maxRecordBytes > 400_000)
        configuration.producer.properties["message.max.bytes"] = "1000"
        #expect(throws: ConfigurationError.self) { try configuration.fittedToKafka() }
    }
}
