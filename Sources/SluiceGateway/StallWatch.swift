import SluiceSystem
import Synchronization

/// Notices Kafka standing still: records wait in librdkafka and no delivery report comes.
///
/// A report is only counted (one relaxed add, on librdkafka's polling thread); the health
/// check, every 500 ms, compares the count with the one it saw last.
final class StallWatch: Sendable {
    private let reports = Atomic<Int>(0)
    /// The count the health check saw last, and when it last saw Kafka moving (monotonic ms).
    private let seen = Mutex<(reports: Int, movingAt: Int64)>((0, monotonicMilliseconds()))

    /// One delivery report, of any record.
    func reported() {
        reports.add(1, ordering: .relaxed)
    }

    /// How long, as of `now`, Kafka has stood still with `waiting` records queued; 0 while
    /// reports come or nothing waits.
    func stalledFor(waiting: Int, now: Int64) -> Int64 {
        let count = reports.load(ordering: .relaxed)
        return seen.withLock { seen in
            if waiting == 0 || count != seen.reports {
                seen = (count, now)
                return 0
            }
            return now - seen.movingAt
        }
    }
}
