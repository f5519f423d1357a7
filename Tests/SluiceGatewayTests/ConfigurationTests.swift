import SluiceKafka
import Testing

@testable import SluiceGateway

@Suite("Configuration")
struct ConfigurationTests {
    @Test func yamlOverridesDefaults() throws {
        var configuration = GatewayConfiguration()
        try configuration.apply(
            yaml: """
                socket: /run/sluice/s.sock
                socket-mode: "0600"
                shutdown-flush-timeout: 2.5s
                kafka:
                  brokers: k1:9092,k2:9092
                  compression: zstd
                  linger: 20ms
                  delivery-timeout: 2m
                  queue-max-bytes: 64MiB
                  client-id: game-7
                  socket.keepalive.enable: true
                  properties:
                    statistics.interval.ms: 0
                  fallback: { store-failures: false }
                  retry: { interval: 5s, backoff: [1s, 2s], max-attempts: 5 }
                  circuit-breaker: { failure-rate-threshold: 40%, wait-duration-in-open-state: 2s, stall-timeout: 1m }
                limits:
                  max-records-per-frame: 500
                  max-unacked-bytes: 2MiB
                  handshake-timeout: 1500ms
                  idle-timeout: 0
                  max-connections: 64
                access:
                  socket-group: sluice
                  allowed-uids: [1000, 1001]
                  allowed-gids: [50]
                  topic-prefixes-by-uid: { 1000: [game., audit.] }
                  topic-prefixes-by-gid: { 50: shared. }
                spool: { path: /var/tmp/s.db, synchronous: normal, max-bytes: 1GB }
                health: { circuit-open-longer-than: 10m, spool-fuller-than: 80% }
                metrics: { listen: "127.0.0.1:9464" }
                """)
        #expect(configuration.socketPath == "/run/sluice/s.sock")
        #expect(configuration.socketMode == 0o600)
        #expect(configuration.shutdownFlushTimeoutMilliseconds == 2_500)
        #expect(configuration.producer.bootstrapServers == "k1:9092,k2:9092")
        #expect(configuration.producer.compression == "zstd")
        #expect(configuration.producer.lingerMilliseconds == 20)
        #expect(configuration.producer.deliveryTimeoutMilliseconds == 120_000)
        #expect(configuration.producer.queueMaxKilobytes == 65_536)
        #expect(configuration.producer.clientID == "game-7")
        #expect(
            configuration.producer.properties == ["socket.keepalive.enable": "true", "statistics.interval.ms": "0"],
            "librdkafka properties by their own names, directly under kafka or under properties")
        #expect(configuration.stallTimeoutMilliseconds == 60_000)
        #expect(configuration.health.maxCircuitOpenMilliseconds == 600_000)
        #expect(configuration.health.spoolFullPercent == 80)
        #expect(configuration.metricsListen == "127.0.0.1:9464")
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
        #expect(configuration.spoolMaxBytes == 1_000_000_000)
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
        "sockt: /tmp/x.sock", "kafka: {brokers: a, lingerMS: 3}", "limits: {max-key-bytes: 70000}",
        "socket-mode: rw", "kafka: [1, 2]", "- a list", "kafka: {linger: 5}", "kafka: {retry: {interval: soon}}",
        "spool: {max-bytes: 1 gallon}", "kafka: {no.such.property: 1}", "metrics: {listen: 9464}",
    ])
    func mistakesAreReported(yaml: String) {
        var configuration = GatewayConfiguration()
        #expect(throws: ConfigurationError.self) {
            try configuration.apply(yaml: yaml)
            try configuration.validate()
        }
    }

    @Test(arguments: [
        ("socketMode: \"0640\"", "socketMode is now spelt socket-mode"),
        ("kafka: {lingerMs: 5}", "kafka.lingerMs is now spelt kafka.linger (with a unit, e.g. 5ms)"),
        ("kafka: {retry: {maxAttempts: 5}}", "kafka.retry.maxAttempts is now spelt kafka.retry.max-attempts"),
        ("spool: {maxBytes: 10}", "spool.maxBytes is now spelt spool.max-bytes (a size, e.g. 1GiB)"),
        ("limits: {idleTimeoutMs: 0}", "limits.idleTimeoutMs is now spelt limits.idle-timeout (with a unit, e.g. 10m)"),
        ("access: {allowedUIDs: [1]}", "access.allowedUIDs is now spelt access.allowed-uids"),
        ("kafka: {linger: 5}", "kafka.linger: 5 needs a unit, e.g. 5ms or 5s"),
        ("kafka: {debug: conf}", "unknown setting kafka.debug (a librdkafka property goes under kafka.properties)"),
        ("kafka: {retry: {debug: 1}}", "unknown setting kafka.retry.debug"),
    ])
    func oldKeysNameTheirNewSpelling(yaml: String, message: String) {
        var configuration = GatewayConfiguration()
        let error = #expect(throws: ConfigurationError.self) { try configuration.apply(yaml: yaml) }
        #expect(error?.description == message)
    }

    @Test func librdkafkaPropertiesKeepTheirTextAsWritten() throws {
        var configuration = GatewayConfiguration()
        try configuration.apply(
            yaml: """
                kafka:
                  sasl.password: no
                  sasl.username: 0123
                  client.rack: 1e3
                  socket.keepalive.enable: true
                  properties: { queue.buffering.max.ms: 007, debug: off }
                """)
        let properties = configuration.producer.properties
        #expect(properties["sasl.password"] == "no")
        #expect(properties["sasl.username"] == "0123")
        #expect(properties["client.rack"] == "1e3")
        #expect(properties["socket.keepalive.enable"] == "true")
        #expect(properties["queue.buffering.max.ms"] == "007")
        #expect(properties["debug"] == "off")
    }

    @Test func stampHeadersIsAListOfTheFourNames() throws {
        var configuration = GatewayConfiguration()
        #expect(configuration.stampHeaders.names == ["event-id", "event-type", "sluice-uid", "sluice-pid"])
        try configuration.apply(yaml: "kafka: {stamp-headers: []}")
        #expect(configuration.stampHeaders == .none)
        try configuration.apply(yaml: "kafka: {stamp-headers: [sluice-pid, event-id]}")
        #expect(configuration.stampHeaders.names == ["event-id", "sluice-pid"])
        let error = #expect(throws: ConfigurationError.self) {
            try configuration.apply(yaml: "kafka: {stamp-headers: [event-id, trace-id]}")
        }
        #expect(
            error?.description
                == "kafka.stamp-headers: trace-id is not a stamped header (event-id, event-type, sluice-uid, "
                + "sluice-pid, or [] for none)")
    }

    @Test func durationsAndSizesTakeUnits() {
        #expect(parseDuration("250ms") == 250)
        #expect(parseDuration("60s") == 60_000)
        #expect(parseDuration("1.5s") == 1_500)
        #expect(parseDuration("5m") == 300_000)
        #expect(parseDuration("1h") == 3_600_000)
        #expect(parseDuration("7d") == 604_800_000)
        #expect(parseDuration("60") == nil, "a duration needs its unit")
        #expect(parseSize("1GiB") == 1 << 30)
        #expect(parseSize("64KiB") == 65_536)
        #expect(parseSize("1GB") == 1_000_000_000)
        #expect(parseSize("10MB") == 10_000_000)
        #expect(parseSize("4096") == 4_096)
        #expect(parseSize("lots") == nil)
    }

    @Test(arguments: ["socket-mode: 0640", "socket-mode: \"0640\"", "socket-mode: \"640\""])
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
