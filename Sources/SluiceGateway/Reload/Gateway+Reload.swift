import Foundation
import SluiceKafka
import SluiceProtocol
import SluiceSystem

extension Gateway {
    /// Re-reads the configuration with `load` and applies what changed, without dropping a
    /// connection or an acked record; on any error the gateway keeps its configuration.
    ///
    /// Applied live: access lists and topic prefixes (open connections included: one no longer
    /// admitted is closed with `NOT_PERMITTED` once its batches are settled), limits (for
    /// connections made from now on: the others keep what `HELLO_OK` announced; the connection
    /// cap at once), stamped headers, store-failures, the circuit breaker, retry and health
    /// settings, and the shutdown flush timeout. Producer settings replace the producer: the
    /// publish lane holds new batches while the old producer delivers what it has, so nothing is
    /// sent twice or out of order. Socket, spool and metrics settings wait for a restart; the
    /// report lists them.
    public func reload(_ load: () throws -> GatewayConfiguration) throws(ConfigurationError) -> ReloadReport {
        try reloading.withLock { _ throws(ConfigurationError) in
            do {
                let report = try apply(load())
                settings.recordReload(at: wallClockMilliseconds(), report: report, error: nil)
                context.stats.countReload(applied: true)
                return report
            } catch {
                let reason = (error as? ConfigurationError)?.description ?? "\(error)"
                settings.recordReload(at: wallClockMilliseconds(), report: nil, error: reason)
                context.stats.countReload(applied: false)
                context.logger.error(
                    "reload failed, the configuration in force stays (generation \(settings.current.generation)): \(reason)"
                )
                throw ConfigurationError(reason)
            }
        }
    }

    private func apply(_ configuration: GatewayConfiguration) throws -> ReloadReport {
        guard !context.isStopping else { throw ConfigurationError("the gateway is stopping") }
        try configuration.validate()
        let old = settings.current
        var (live, restart) = old.configuration.changes(to: configuration)
        // What cannot change live keeps its old value, so STATS and later reloads see what runs.
        var kept = configuration
        kept.keepStartOnlySettings(of: old.configuration)
        let applied = try LiveSettings(kept, generation: old.generation + 1)
        let replaceProducer = applied.producerDiffers(from: old)
        if replaceProducer {
            live.append("kafka (producer settings)")
            // No batch is routed while the old producer drains: the lane runs them in turn. The
            // wait is short of the watchdog's (the lane must answer within half its period):
            // what is still in flight then is purged and spooled, as when the circuit opens.
            let purged = try publishLane.sync {
                try producer.replace(with: applied.producer, drainTimeoutMilliseconds: Self.drainMilliseconds)
            }
            if purged > 0 {
                context.logger.warning("\(purged) records the old producer had not delivered were purged and spooled")
            }
        }
        routing.reconfigure(breaker: configuration.circuitBreaker)
        worker.reconfigure(
            configuration.retry, reportTimeoutMilliseconds: configuration.retryReportTimeoutMilliseconds)
        settings.replace(with: applied)
        // What runs: a changed socket-group alone (start-only) is not an access change.
        let access = applied.configuration.access
        if old.configuration.access != access {
            for session in connections.withLock({ Array($0.values) }) { session.apply(access) }
        }
        for key in restart { context.logger.warning("reload: \(key) changed; it takes effect at the next restart") }
        context.logger.notice(
            "configuration reloaded (generation \(applied.generation)): \(live.isEmpty ? "no live setting changed" : live.joined(separator: ", "))"
        )
        return ReloadReport(
            generation: applied.generation, applied: live, needRestart: restart, replacedProducer: replaceProducer)
    }

    /// How long a replaced producer may take to deliver what it holds before the rest is spooled.
    static let drainMilliseconds = 5_000
}
