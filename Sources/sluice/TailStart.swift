import Foundation
import SluiceKafka

/// Where `sluice tail` starts reading each partition (`--from`).
enum TailStart: Equatable {
    case beginning
    case end
    /// This offset in every partition (a partition's end when it has fewer records).
    case offset(Int64)
    /// This many records before each partition's end (`-N`).
    case beforeEnd(Int64)
    /// The first record at or after this time, in milliseconds since the epoch.
    case timestamp(Int64)

    static let help = """
        beginning, end, an offset N (in every partition; a partition with fewer records starts at its end), \
        -N (the last N records of each partition), or a time: RFC 3339 (2024-05-01T12:00:00Z, \
        2024-05-01T14:00:00.250+02:00) or epoch milliseconds with an @ (@1714564800000)
        """

    init?(_ text: String) {
        switch text {
        case "beginning": self = .beginning
        case "end": self = .end
        default:
            if let offset = Int64(text), offset >= 0 {
                self = .offset(offset)
            } else if text.hasPrefix("-"), let count = Int64(text.dropFirst()), count > 0 {
                self = .beforeEnd(count)
            } else if text.hasPrefix("@"), let milliseconds = Int64(text.dropFirst()), milliseconds >= 0 {
                self = .timestamp(milliseconds)
            } else if let milliseconds = Self.rfc3339Milliseconds(text) {
                self = .timestamp(milliseconds)
            } else {
                return nil
            }
        }
    }

    /// Milliseconds since the epoch of an RFC 3339 time with a zone (`Z` or `±hh:mm`).
    static func rfc3339Milliseconds(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1_000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970) * 1_000 }
    }

    /// The offset to assign in a partition that ends at `end` (nil: not looked up);
    /// timestamps are resolved by the broker instead.
    func offset(end: Int64?) -> Int64 {
        switch self {
        case .beginning: return TopicReader.beginning
        case .end: return end ?? TopicReader.end
        case .offset(let offset): return end.map { min(offset, $0) } ?? offset
        case .beforeEnd(let count): return max(0, (end ?? 0) - count)
        case .timestamp: return end ?? TopicReader.end
        }
    }
}
