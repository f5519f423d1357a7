import Foundation
import Metrics
import SluiceKafka
import SluiceProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The configuration the gateway runs on now, swapped whole by a reload.
///
/// Immutable: readers take it once per batch or connection (`current`, one reference) and use
/// it throughout, so a reload never shows them half of one file and half of another.
final class LiveSettings: Sendable {
    /// The configuration as validated.
    let configuration: GatewayConfiguration
    /// The producer's settings, fitted to `limits`.
    let producer: ProducerConfiguration
    /// The limits announced to new connections.
    let limits: Limits
    /// The `topics:` section compiled (#20): what `ClientSession` checks each batch against.
    let contracts: ContractTable
    /// The files the producer's `*.location` properties name, as they were when read: a reload
    /// replaces the producer when one changed in place (a renewed certificate at the same path).
    let producerFiles: [String: FileStamp]
    /// 1 for the configuration the gateway started with, +1 per applied reload.
    let generation: Int

    init(_ configuration: GatewayConfiguration, generation: Int) throws(ConfigurationError) {
        self.configuration = configuration
        (producer, limits) = try configuration.fittedToKafka()
        contracts = configuration.topics.isEmpty ? .empty : try ContractTable(configuration.topics)
        producerFiles = FileStamp.ofLocations(in: producer.properties)
        self.generation = generation
    }

    /// Whether a producer made from `other` would differ from one made from these settings.
    func producerDiffers(from other: LiveSettings) -> Bool {
        !producer.librdkafkaProperties.elementsEqual(other.producer.librdkafkaProperties, by: ==)
            || producerFiles != other.producerFiles
    }
}

/// What tells one version of a file from another: its inode, size and modification time.
struct FileStamp: Sendable, Equatable {
    var inode: UInt64
    var size: Int64
    var modified: Int64

    /// The stamps of the files that librdkafka properties ending in `.location` name.
    static func ofLocations(in properties: [String: String]) -> [String: FileStamp] {
        var stamps: [String: FileStamp] = [:]
        for (name, path) in properties where name.hasSuffix(".location") {
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            stamps[path] = FileStamp(
                inode: UInt64(info.st_ino), size: Int64(info.st_size),
                modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        }
        return stamps
    }
}

/// Holds the current `LiveSettings` and what the reloads did.
final class SettingsBox: Sendable {
    private let state: Mutex<LiveSettings>
    private let history = Mutex(ReloadHistory())

    init(_ settings: LiveSettings) { state = Mutex(settings) }

    var current: LiveSettings { state.withLock { $0 } }

    func replace(with settings: LiveSettings) { state.withLock { $0 = settings } }

    /// Records the result of a reload: what it applied, or why it applied nothing.
    func recordReload(at wallMilliseconds: Int64, report: ReloadReport?, error: String?) {
        history.withLock { history in
            history.lastAt = wallMilliseconds
            history.lastError = error
            history.lastReport = report
            if error == nil { history.applied += 1 } else { history.failed += 1 }
        }
    }

    /// The configuration's part of STATS.
    var stats: StatsSnapshot.Config {
        let history = history.withLock { $0 }
        return StatsSnapshot.Config(
            generation: current.generation, reloadsApplied: history.applied, reloadsFailed: history.failed,
            lastReloadAt: history.lastAt == 0 ? nil : Double(history.lastAt) / 1_000,
            lastReloadResult: history.lastAt == 0 ? nil : history.lastError == nil ? "applied" : "failed",
            lastReloadError: history.lastError, lastReloadApplied: history.lastReport?.applied,
            lastReloadNeedsRestart: history.lastReport?.needRestart)
    }
}

/// The reloads so far: counts and the last one's time and result.
struct ReloadHistory: Sendable {
    var applied = 0
    var failed = 0
    /// Wall-clock milliseconds of the last reload, 0 before the first.
    var lastAt: Int64 = 0
    /// Why the last reload changed nothing; nil when it was applied (or none was tried).
    var lastError: String?
    var lastReport: ReloadReport?
}

/// What a reload applied, and the changed settings that wait for a restart.
public struct ReloadReport: Sendable, Equatable {
    /// The configuration's generation after the reload.
    public var generation: Int
    /// The settings that changed and took effect (their file keys).
    public var applied: [String]
    /// Settings that changed in the file but keep their old value until a restart.
    public var needRestart: [String]
    /// Whether the Kafka producer was replaced.
    public var replacedProducer: Bool
}

extension GatewayConfiguration {
    /// The file keys of the settings that differ between `self` and `other`, split into those a
    /// running gateway applies and those it takes only at start.
    func changes(to other: GatewayConfiguration) -> (live: [String], restart: [String]) {
        func changed(_ settings: [Setting]) -> [String] {
            settings.filter { $0.differs(self, other) }.map(\.key)
        }
        return (changed(Self.liveSettings), changed(Self.startOnlySettings))
    }

    /// Takes the settings a running gateway cannot change from `running`.
    mutating func keepStartOnlySettings(of running: GatewayConfiguration) {
        for setting in Self.startOnlySettings { setting.keep(&self, running) }
    }

    /// Settings the gateway takes only at start: a reload reports them and keeps their old value.
    static let startOnlySettings: [Setting] = [
        Setting("socket", \.socketPath), Setting("socket-mode", \.socketMode),
        Setting("access.socket-group", \.access.socketGroup), Setting("spool.path", \.spoolPath),
        Setting("spool.synchronous", \.spoolSynchronous), Setting("spool.max-bytes", \.spoolMaxBytes),
        Setting("metrics.listen", \.metricsListen),
    ]

    /// Settings a reload applies (the producer's are compared apart, with the files they name).
    static let liveSettings: [Setting] = [
        Setting("shutdown-flush-timeout", \.shutdownFlushTimeoutMilliseconds),
        Setting("kafka.stamp-headers", \.stampHeaders), Setting("kafka.fallback.store-failures", \.storeFailures),
        Setting("kafka.circuit-breaker", \.circuitBreaker),
        Setting("kafka.circuit-breaker.stall-timeout", \.stallTimeoutMilliseconds), Setting("kafka.retry", \.retry),
        Setting("access.allowed-uids", \.access.allowedUIDs), Setting("access.allowed-gids", \.access.allowedGIDs),
        Setting("access.topic-prefixes-by-uid", \.access.topicPrefixesByUID),
        Setting("access.topic-prefixes-by-gid", \.access.topicPrefixesByGID), Setting("limits", \.limits),
        Setting("health", \.health), Setting("log", \.log), Setting("topics", \.topics),
    ]

    /// One setting by its file key: whether two configurations differ in it, and how to copy it.
    struct Setting: Sendable {
        let key: String
        let differs: @Sendable (GatewayConfiguration, GatewayConfiguration) -> Bool
        let keep: @Sendable (inout GatewayConfiguration, GatewayConfiguration) -> Void

        init<T: Equatable & SendableMetatype>(
            _ key: String, _ path: WritableKeyPath<GatewayConfiguration, T> & Sendable
        ) {
            self.key = key
            differs = { $0[keyPath: path] != $1[keyPath: path] }
            keep = { $0[keyPath: path] = $1[keyPath: path] }
        }
    }
}

extension StatsSnapshot {
    /// The configuration in force and the reloads so far (STATS `config`).
    public struct Config: Codable, Sendable, Equatable {
        /// 1 at start, +1 per applied reload.
        public var generation: Int
        public var reloadsApplied: Int
        public var reloadsFailed: Int
        /// Unix time (seconds) of the last reload; absent before the first.
        public var lastReloadAt: Double?
        /// `applied` or `failed`; absent before the first reload.
        public var lastReloadResult: String?
        /// Why the last reload changed nothing; absent unless it failed.
        public var lastReloadError: String?
        /// The settings the last reload changed; absent unless it was applied.
        public var lastReloadApplied: [String]?
        /// Settings the last reload found changed that wait for a restart; absent unless it was applied.
        public var lastReloadNeedsRestart: [String]?
    }
}

/// The reload counter and gauges (`sluice_config_reloads_total{result}` and friends).
struct ReloadMetrics: Sendable {
    let applied: Counter
    let failed: Counter
    let generation: Gauge
    let lastReloadAt: Gauge
    let lastReloadSucceeded: Gauge

    init(factory: any MetricsFactory) {
        applied = Counter(label: "sluice.config.reloads", dimensions: [("result", "applied")], factory: factory)
        failed = Counter(label: "sluice.config.reloads", dimensions: [("result", "failed")], factory: factory)
        generation = Gauge(label: "sluice.config.generation", factory: factory)
        lastReloadAt = Gauge(label: "sluice.config.last_reload_timestamp_seconds", factory: factory)
        lastReloadSucceeded = Gauge(label: "sluice.config.last_reload_success", factory: factory)
    }

    func update(_ config: StatsSnapshot.Config?) {
        guard let config else { return }
        generation.record(config.generation)
        lastReloadAt.record(config.lastReloadAt ?? 0)
        lastReloadSucceeded.record(config.lastReloadResult == "failed" ? 0 : 1)
    }
}
