import SluiceKafka
import SluiceProtocol
import SluiceSpool

/// Everything `Gateway` needs to run; `validate()` says what is wrong in words.
public struct GatewayConfiguration: Sendable {
    /// Path of the Unix socket clients connect to; a missing directory is created with mode
    /// 0750. Default: `/run/sluice/sluice.sock`.
    public var socketPath = "/run/sluice/sluice.sock"
    /// Permission bits of the socket file. Default: `0o660`.
    public var socketMode: UInt32 = 0o660
    /// The Kafka producer's settings.
    public var producer = ProducerConfiguration()
    /// Which `kafka:` settings came from the environment (`${NAME}`) or from files (`X-file`),
    /// and which secrets the file holds itself; `check-config` prints and checks them.
    public var kafkaSources = KafkaSettingSources()
    /// The headers stamped on every record (`kafka.stamp-headers`). A client may not send
    /// these names whether they are stamped or not. Default: all four.
    public var stampHeaders = StampedHeaders.all
    /// Limits on client input, announced in `HELLO_OK`. The gateway lets a connection have
    /// 16 MiB of `PUBLISH` payload awaiting acks (the protocol's default is 64 MiB): while
    /// the spool takes records more slowly than a client sends them, that is what waits in
    /// memory, a few times over (payload, spool rows, headers).
    public var limits: Limits = {
        var limits = Limits()
        limits.maxUnackedBytes = 16 << 20
        return limits
    }()
    /// How long shutdown waits for librdkafka to deliver what it holds before spooling the
    /// rest. Default: 10,000 ms.
    public var shutdownFlushTimeoutMilliseconds = 10_000
    /// The spool's SQLite file. Default: `/var/lib/sluice/spool.db`.
    public var spoolPath = "/var/lib/sluice/spool.db"
    /// SQLite `synchronous` for the spool. Default: FULL (commits survive power loss).
    public var spoolSynchronous = SpoolSynchronous.full
    /// Bytes of undelivered records the spool may hold before publishers get `OVERLOADED`.
    /// Default: 1 GiB.
    public var spoolMaxBytes: Int64 = 1 << 30
    /// Whether failed or diverted records are kept in the spool (`kafka.fallback.store-failures`).
    /// Turning it off drops them, counted in STATS. Default: true.
    public var storeFailures = true
    /// When the circuit opens, and how it recovers.
    public var circuitBreaker = CircuitBreakerConfiguration()
    /// With records waiting in librdkafka and none delivered for this long, the circuit opens
    /// (a broker that hangs rather than refuses). Default: 5,000 ms.
    public var stallTimeoutMilliseconds: Int64 = 5_000
    /// The retry worker's schedule.
    public var retry = RetryConfiguration()
    /// Who may connect and publish where.
    public var access = AccessConfiguration()
    /// When the gateway calls itself unhealthy.
    public var health = HealthConfiguration()
    /// Declared topics and their contracts (`topics:`). Default: none, nothing is checked.
    public var topics = TopicContracts()
    /// Address of the HTTP listener for `/metrics` and `/healthz` (`metrics.listen`,
    /// `HOST:PORT`, port 0 picks one). Default: none, no listener.
    public var metricsListen: String?
    /// Log level and format of `sluice serve` (`log.level`, `log.format`); its command-line
    /// options win over them.
    public var log = LogConfiguration()

    public init() {}

    /// Throws a `ConfigurationError` naming the first invalid setting.
    public func validate() throws(ConfigurationError) {
        guard !socketPath.isEmpty, socketPath.utf8.count < 108 else {
            throw ConfigurationError("socket path must be 1 to 107 bytes long: \(socketPath)")
        }
        guard socketMode <= 0o777 else {
            throw ConfigurationError("socket mode \(String(socketMode, radix: 8)) is not a permission mode")
        }
        guard !producer.bootstrapServers.isEmpty else { throw ConfigurationError("no Kafka brokers given") }
        guard limits.maxFrameBytes > 0, limits.maxDecompressedBytes > 0, limits.maxRecordsPerFrame > 0 else {
            throw ConfigurationError("frame limits must be positive")
        }
        guard limits.maxConnections >= 1 else { throw ConfigurationError("limits.max-connections must be at least 1") }
        guard limits.maxUnackedBytes >= limits.maxFrameBytes else {
            throw ConfigurationError("limits.max-unacked-bytes must be at least max-frame-bytes")
        }
        guard shutdownFlushTimeoutMilliseconds >= 0 else {
            throw ConfigurationError("shutdown flush timeout must not be negative")
        }
        guard !spoolPath.isEmpty else { throw ConfigurationError("no spool path given") }
        guard spoolMaxBytes > 0 else { throw ConfigurationError("spool.max-bytes must be positive") }
        guard retry.maxAttempts >= 1, retry.batchSize >= 1, retry.intervalMilliseconds > 0,
            !retry.backoffMilliseconds.isEmpty, retry.backoffMilliseconds.allSatisfy({ $0 >= 0 })
        else {
            throw ConfigurationError(
                "kafka.retry: max-attempts and batch-size must be at least 1, interval positive, backoff non-empty")
        }
        let breaker = circuitBreaker
        guard (1...100).contains(breaker.failureRateThreshold), breaker.slidingWindowSize >= 1,
            breaker.minimumNumberOfCalls >= 1, breaker.permittedCallsInHalfOpenState >= 1,
            breaker.waitDurationInOpenStateMilliseconds >= 0, stallTimeoutMilliseconds > 0
        else {
            throw ConfigurationError(
                "kafka.circuit-breaker: threshold 1-100 %, window, minimum and half-open calls at least 1")
        }
        guard health.spoolFullPercent > 0, health.spoolFullPercent <= 100, health.maxCircuitOpenMilliseconds >= 0
        else {
            throw ConfigurationError("health: spool-fuller-than must be 1-100 %, circuit-open-longer-than not negative")
        }
        guard LogConfiguration.levels.contains(log.level), LogConfiguration.formats.contains(log.format) else {
            let levels = LogConfiguration.levels.joined(separator: ", ")
            throw ConfigurationError("log.level must be one of \(levels), and log.format text or json")
        }
        if let metricsListen, HostPort(metricsListen) == nil {
            throw ConfigurationError("metrics.listen must be HOST:PORT, e.g. 127.0.0.1:9464: \(metricsListen)")
        }
        try topics.validate()
        do {
            try producer.check()
        } catch {
            throw ConfigurationError("kafka: librdkafka refuses \(error.reason)")
        }
    }
}

/// A `HOST:PORT` address for a TCP listener; IPv6 hosts go in brackets (`[::1]:9464`).
public struct HostPort: Sendable, Equatable {
    public var host: String
    public var port: UInt16

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

/// How the gateway logs; a reload applies both at once.
public struct LogConfiguration: Sendable, Equatable {
    /// trace, debug, info, notice, warning, error or critical. Default: info.
    public var level = "info"
    /// text, or json (one object per line). Default: text.
    public var format = "text"

    public static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    public static let formats = ["text", "json"]

    public init() {}
}

/// A configuration that cannot work, with the reason.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// When and how often spooled records are retried.
public struct RetryConfiguration: Sendable, Equatable {
    /// How often the worker looks for due records (`kafka.retry.interval`). Default: 60,000 ms.
    public var intervalMilliseconds: Int64 = 60_000
    /// Wait after the n-th broker-reported failure; the last entry repeats. Default: 1, 5, 15, 60 minutes.
    public var backoffMilliseconds: [Int64] = [60_000, 300_000, 900_000, 3_600_000]
    /// Broker-reported failures before a record goes to `{topic}.dlq` (`kafka.retry.max-attempts`). Default: 3.
    public var maxAttempts = 3
    /// Records re-sent per round. Default: 1,000.
    public var batchSize = 1_000

    public init() {}

    /// The wait after `attempts` broker-reported failures.
    public func backoff(afterAttempts attempts: Int) -> Int64 {
        backoffMilliseconds[min(max(attempts, 1), backoffMilliseconds.count) - 1]
    }
}

/// Who may connect (peer credentials, `SO_PEERCRED`) and which topics they may publish to.
public struct AccessConfiguration: Sendable, Equatable {
    /// Group (name or number) that owns the socket file, so its members can connect. Default: none.
    public var socketGroup: String?
    /// Peers with one of these uids may connect (together with `allowedGIDs`); nil admits every uid.
    public var allowedUIDs: Set<UInt32>?
    /// Peers with one of these primary gids may connect; nil admits every gid.
    public var allowedGIDs: Set<UInt32>?
    /// Topic prefixes a uid may publish to; a uid without an entry is not restricted by uid.
    public var topicPrefixesByUID: [UInt32: [String]] = [:]
    /// Topic prefixes a gid may publish to; a gid without an entry is not restricted by gid.
    public var topicPrefixesByGID: [UInt32: [String]] = [:]

    public init() {}

    /// Whether a peer may connect. With no allow-list everyone may; with one or both, a peer
    /// must be on one of them.
    public func admits(uid: UInt32, gid: UInt32) -> Bool {
        if allowedUIDs == nil && allowedGIDs == nil { return true }
        return allowedUIDs?.contains(uid) == true || allowedGIDs?.contains(gid) == true
    }

    /// The prefixes a peer's topics must start with, or nil when it may publish anywhere.
    public func topicPrefixes(uid: UInt32, gid: UInt32) -> [String]? {
        let byUID = topicPrefixesByUID[uid]
        let byGID = topicPrefixesByGID[gid]
        if byUID == nil && byGID == nil { return nil }
        return (byUID ?? []) + (byGID ?? [])
    }
}
