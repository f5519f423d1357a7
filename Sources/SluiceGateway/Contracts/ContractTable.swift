import SluiceProtocol
import Synchronization

/// The `topics:` section compiled once: which contract, if any, a topic's records keep.
///
/// Immutable and shared by every event loop; a reload builds a new one and swaps it whole
/// (`LiveSettings.contracts`). An exact name wins over globs, else the first glob in file
/// order that matches. Globs are matched once per topic name and the answer remembered.
final class ContractTable: Sendable {
    /// What the table says about one topic.
    enum Resolution: Equatable {
        /// No entry matches and `declared-only` is off: published unchecked.
        case unchecked
        /// No entry matches and `declared-only` is on (enforced or observed).
        case undeclared(ContractMode)
        /// The entry at this index of `rules` applies.
        case contract(Int)
    }

    /// A table that checks nothing (no `topics:` section).
    static let empty = try! ContractTable(TopicContracts())

    /// False when nothing is ever checked: callers skip the table altogether.
    let isActive: Bool
    /// The compiled entries, in file order.
    let rules: [ContractRules]
    private let declaredOnly: ContractMode?
    private let exact: [String: Int]
    private let globs: [(pattern: [UInt8], index: Int)]
    /// Topic names already matched against the globs (-1: none matched), at most `memoLimit`.
    private let memo = Mutex<[String: Int]>([:])
    private static let memoLimit = 10_000

    /// Compiles `topics`, after checking it (`TopicContracts.validate`).
    init(_ topics: TopicContracts) throws(ConfigurationError) {
        try topics.validate()
        rules = topics.contracts.map(ContractRules.init)
        declaredOnly = topics.declaredOnly
        var exact: [String: Int] = [:]
        var globs: [(pattern: [UInt8], index: Int)] = []
        for (index, contract) in topics.contracts.enumerated() {
            if contract.isGlob {
                globs.append((Array(contract.topic.utf8), index))
            } else {
                exact[contract.topic] = index
            }
        }
        self.exact = exact
        self.globs = globs
        isActive = !topics.isEmpty
    }

    /// The contract of the topic `name`.
    func resolve(_ name: String) -> Resolution {
        if let index = exact[name] { return .contract(index) }
        guard !globs.isEmpty else { return unmatched }
        if let index = memo.withLock({ $0[name] }) { return index < 0 ? unmatched : .contract(index) }
        let bytes = Array(name.utf8)
        let index = globs.first { globMatches($0.pattern, bytes) }?.index ?? -1
        memo.withLock { memo in
            if memo.count < Self.memoLimit { memo[name] = index }
        }
        return index < 0 ? unmatched : .contract(index)
    }

    private var unmatched: Resolution { declaredOnly.map { .undeclared($0) } ?? .unchecked }

    /// Checks every record of `batch` not already refused; an enforced violation marks its
    /// record (`CONTRACT_VIOLATION`, `UNKNOWN_TOPIC`), an observed one only is reported.
    /// Returns one violation per topic, rule and mode, with its count and the last message.
    func check(_ batch: inout PublishBatch, _ topics: BatchTopics) -> [ContractViolation] {
        var violations: [ContractViolation] = []
        // Which topic, rule and mode each entry of `violations` counts: a batch has few.
        var keys: [(topic: UInt16, rule: ContractRule, mode: ContractMode)] = []
        // One resolution per distinct topic of the batch, not per record.
        let resolutions = topics.names.map(resolve)
        let payload = batch.payload
        payload.withUnsafeBytes { bytes in
            for index in batch.records.indices where batch.records[index].error == nil {
                let found: (ContractRule, ContractMode, String)
                switch resolutions[Int(topics.ofRecord[index])] {
                case .unchecked: continue
                case .undeclared(let mode):
                    found = (.declaredOnly, mode, "no entry of topics.contracts matches the topic")
                case .contract(let rulesIndex):
                    let rules = self.rules[rulesIndex]
                    guard let (rule, message) = rules.check(batch.records[index], in: bytes) else { continue }
                    found = (rule, rules.mode, message)
                }
                if found.1 == .enforce { batch.records[index].error = found.0.code }
                let topic = topics.ofRecord[index]
                if let seen = keys.firstIndex(where: { $0 == (topic, found.0, found.1) }) {
                    violations[seen].count += 1
                    violations[seen].message = found.2
                } else {
                    keys.append((topic, found.0, found.1))
                    violations.append(
                        ContractViolation(
                            topic: topics.names[Int(topic)], rule: found.0, mode: found.1, message: found.2))
                }
            }
        }
        return violations
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of bytes (none included).
func globMatches<Name: Collection<UInt8>>(_ pattern: [UInt8], _ name: Name) -> Bool where Name.Index == Int {
    let star = UInt8(ascii: "*")
    var p = 0
    var n = name.startIndex
    // Where the last star was, and the name position it currently stands up to.
    var starAt = -1
    var starName = n
    while n < name.endIndex {
        if p < pattern.count && pattern[p] != star && pattern[p] == name[n] {
            p += 1
            n += 1
        } else if p < pattern.count && pattern[p] == star {
            starAt = p
            starName = n
            p += 1
        } else if starAt >= 0 {
            p = starAt + 1
            starName += 1
            n = starName
        } else {
            return false
        }
    }
    while p < pattern.count && pattern[p] == star { p += 1 }
    return p == pattern.count
}

/// Records of one batch that break one rule of their topic's contract, as counted, logged and
/// shown in STATS.
struct ContractViolation: Sendable, Equatable {
    var topic: String
    var rule: ContractRule
    var mode: ContractMode
    /// What was wrong with the last of them, e.g. `key "9f1c…" is not /userId "42"`.
    var message: String
    /// How many records.
    var count = 1
}

/// The rule a record broke, named by its setting (the `reason` label of the metrics).
enum ContractRule: String, Sendable, CaseIterable {
    case declaredOnly = "declared-only"
    case maxValueBytes = "max-value-bytes"
    case eventTypes = "event-types"
    case value = "value"
    case keyFrom = "key-from"
    case eventTypeFrom = "event-type-from"
    case required = "required"

    /// The per-record code of an enforced violation.
    var code: ErrorCode { self == .declaredOnly ? .unknownTopic : .contractViolation }
}
