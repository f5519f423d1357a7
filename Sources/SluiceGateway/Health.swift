import SluiceKafka
import SluiceProtocol
import SluiceSpool

/// When the gateway calls itself unhealthy (`/healthz` 503, `sluice stats` exit status 2).
public struct HealthConfiguration: Sendable, Equatable {
    /// How long the circuit may stay away from CLOSED before the gateway is unhealthy
    /// (`health.circuit-open-longer-than`). Default: 5 minutes.
    public var maxCircuitOpenMilliseconds: Int64 = 300_000
    /// Percentage of `spool.max-bytes` past which the gateway is unhealthy, since it will soon
    /// answer `OVERLOADED` (`health.spool-fuller-than`). Default: 90 %.
    public var spoolFullPercent: Double = 90

    public init() {}

    /// The reasons the gateway is unhealthy; empty when it is healthy.
    func problems(
        circuitState: CircuitBreakerStateMachine.State, notClosedForMilliseconds: Int64, spoolBytes: Int64,
        spoolMaxBytes: Int64, stopping: Bool, kafkaRefusal: String? = nil
    ) -> [String] {
        var problems: [String] = []
        if stopping { problems.append("shutting down") }
        if circuitState != .closed && notClosedForMilliseconds > maxCircuitOpenMilliseconds {
            problems.append(
                "circuit breaker \(circuitState.rawValue) for \(notClosedForMilliseconds / 1000) s "
                    + "(limit \(maxCircuitOpenMilliseconds / 1000) s): Kafka does not take records")
        }
        let percent = spoolMaxBytes > 0 ? Double(spoolBytes) * 100 / Double(spoolMaxBytes) : 0
        if percent >= spoolFullPercent {
            problems.append(
                "spool \(Int(percent)) % full (\(spoolBytes) of \(spoolMaxBytes) bytes): publishers will get OVERLOADED"
            )
        }
        // The brokers refuse this gateway's TLS or SASL (`KafkaProducer.connectionProblem`): a
        // configuration fault that waiting does not cure, so it counts at once, in librdkafka's words.
        if let kafkaRefusal { problems.append("Kafka refuses this gateway: \(kafkaRefusal)") }
        return problems
    }
}

/// The versions of Sluice and of the libraries this process loaded.
public struct LibraryVersions: Codable, Sendable, Equatable {
    public var sluice = sluiceVersion
    public var librdkafka = KafkaLibrary.version
    public var sqlite = Spool.sqliteVersion
    public var zstd = zstdVersion

    public init() {}

    /// One line per component, as `sluice --version` prints them.
    public var lines: [String] {
        ["sluice \(sluice)", "librdkafka \(librdkafka)", "SQLite \(sqlite)", "zstd \(zstd)"]
    }
}
