import Logging
import Metrics
import SluiceSystem
import Synchronization

/// Contract violations per topic and rule: STATS counts with the last message, the metrics
/// `kafka_events_rejected_total{topic,reason}` (enforced) and
/// `sluice_contract_observed_total{topic,reason}` (observed), and a rate-limited log line.
///
/// At most `maxTopics` topic names are kept; violations of further topics count under `_other`,
/// so a publisher inventing topic names cannot grow STATS or the metrics without bound.
final class ContractStats: Sendable {
    static let maxTopics = 1_000
    /// A (topic, rule) logs at most one line per this many milliseconds.
    static let logInterval: Int64 = 10_000

    private struct Key: Hashable {
        var topic: String
        var rule: ContractRule
    }

    private struct Entry {
        var rejected = 0
        var observed = 0
        var lastMessage = ""
        /// Uptime (ms) of the last log line, and violations since then that were not logged.
        var loggedAt: Int64?
        var unlogged = 0
        var rejectedCounter: Counter?
        var observedCounter: Counter?
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// The topic names `entries` holds (at most `maxTopics`, besides `_other`).
        var topics: Set<String> = []
    }

    private let metrics: any MetricsFactory
    private let state = Mutex(State())

    init(metrics: any MetricsFactory) { self.metrics = metrics }

    /// Counts `violations` (one batch's), and logs those whose (topic, rule) has not logged lately.
    func count(_ violations: [ContractViolation], logger: Logger) {
        let now = monotonicMilliseconds()
        var lines: [(ContractViolation, Int)] = []
        state.withLock { state in
            for violation in violations {
                var key = Key(topic: violation.topic, rule: violation.rule)
                if !state.topics.contains(key.topic) {
                    if state.topics.count >= Self.maxTopics {
                        key.topic = "_other"
                    } else {
                        state.topics.insert(key.topic)
                    }
                }
                var entry = state.entries[key] ?? Entry()
                if violation.mode == .enforce {
                    entry.rejected += violation.count
                    if entry.rejectedCounter == nil { entry.rejectedCounter = counter("kafka.events.rejected", key) }
                    entry.rejectedCounter?.increment(by: violation.count)
                } else {
                    entry.observed += violation.count
                    if entry.observedCounter == nil { entry.observedCounter = counter("sluice.contract.observed", key) }
                    entry.observedCounter?.increment(by: violation.count)
                }
                entry.lastMessage = violation.message
                if entry.loggedAt.map({ now - $0 >= Self.logInterval }) ?? true {
                    // The line shows the last record's message; the others are counted in it.
                    lines.append((violation, entry.unlogged + violation.count - 1))
                    entry.loggedAt = now
                    entry.unlogged = 0
                } else {
                    entry.unlogged += violation.count
                }
                state.entries[key] = entry
            }
        }
        for (violation, unlogged) in lines {
            let outcome = violation.mode == .enforce ? "rejected" : "published (observe)"
            let more = unlogged > 0 ? " (\(unlogged) more of this topic and rule since the last line)" : ""
            logger.warning(
                "contract violation on \(violation.topic), rule \(violation.rule.rawValue), \(outcome): \(violation.message)\(more)"
            )
        }
    }

    private func counter(_ label: String, _ key: Key) -> Counter {
        Counter(label: label, dimensions: [("topic", key.topic), ("reason", key.rule.rawValue)], factory: metrics)
    }

    /// The counts for STATS.
    func snapshot() -> StatsSnapshot.Contracts {
        var violations: [String: [String: StatsSnapshot.Contracts.Violations]] = [:]
        state.withLock { state in
            for (key, entry) in state.entries {
                violations[key.topic, default: [:]][key.rule.rawValue] = .init(
                    rejected: entry.rejected, observed: entry.observed, lastMessage: entry.lastMessage)
            }
        }
        return StatsSnapshot.Contracts(violations: violations)
    }
}

extension StatsSnapshot {
    /// Topic contracts: violations per topic and rule (`reason`).
    public struct Contracts: Codable, Sendable, Equatable {
        /// Violations of one rule on one topic.
        public struct Violations: Codable, Sendable, Equatable {
            /// Records refused with `CONTRACT_VIOLATION` or `UNKNOWN_TOPIC` (enforced contracts).
            public var rejected: Int
            /// Records published despite the violation (`mode: observe`).
            public var observed: Int
            /// What the last one was, e.g. `key "9f1c…" is not /userId "42"`.
            public var lastMessage: String
        }

        /// Topic → rule (`key-from`, `required`, `declared-only`, …) → counts.
        public var violations: [String: [String: Violations]]
    }
}
