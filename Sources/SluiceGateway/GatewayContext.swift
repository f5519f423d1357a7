import Logging
import SluiceProtocol
import SluiceSystem
import Synchronization

/// What every connection shares.
final class GatewayContext: Sendable {
    let settings: SettingsBox
    let stats: GatewayStats
    let router: Router
    let logger: Logger
    /// Where STATS snapshots are taken: they read the spool, so not on a loop, and not on the
    /// publish lane, where they would wait behind a full librdkafka queue.
    let statsThread = WorkerThread(name: "sluice-stats")
    private let statsSource: @Sendable (_ stopping: Bool) -> StatsSnapshot
    private let stopping = Atomic<Bool>(false)

    init(
        settings: SettingsBox, stats: GatewayStats, router: Router, logger: Logger,
        statsSource: @escaping @Sendable (_ stopping: Bool) -> StatsSnapshot
    ) {
        self.settings = settings
        self.stats = stats
        self.router = router
        self.logger = logger
        self.statsSource = statsSource
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }
    func markStopping() { stopping.store(true, ordering: .releasing) }

    func snapshot() -> StatsSnapshot { statsSource(isStopping) }
    func statsJSON() -> [UInt8] { snapshot().json() }
}
