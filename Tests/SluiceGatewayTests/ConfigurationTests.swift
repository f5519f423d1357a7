import SluiceGateway
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
                limits:
                  maxRecordsPerFrame: 500
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
