import Foundation
import SluiceProtocol

/// The `topics:` section: which topics are declared and the contract each one's records keep.
///
/// An exact topic name wins over globs; otherwise the first glob in file order that matches
/// applies. A topic that matches no entry publishes unchecked, unless `declaredOnly` is set.
public struct TopicContracts: Sendable, Equatable {
    /// What happens to a record whose topic matches no entry (`declared-only`). Default: nil,
    /// it is published; `.enforce` refuses it with `UNKNOWN_TOPIC` (28); `.observe` publishes
    /// and counts it.
    public var declaredOnly: ContractMode?
    /// The entries, in file order (`contracts`). Default: none.
    public var contracts: [TopicContract] = []

    public init(declaredOnly: ContractMode? = nil, contracts: [TopicContract] = []) {
        self.declaredOnly = declaredOnly
        self.contracts = contracts
    }

    /// Whether any record is checked at all: false when the section is absent or empty.
    public var isEmpty: Bool { declaredOnly == nil && contracts.isEmpty }
}

/// Whether a contract refuses what breaks it or only counts it.
public enum ContractMode: String, Sendable, Equatable {
    /// The record fails alone with `CONTRACT_VIOLATION` (or `UNKNOWN_TOPIC`); never published or spooled.
    case enforce
    /// The record is published as if there were no contract; the violation is counted and logged.
    case observe
}

/// The JSON types a `required` pointer may ask for.
public enum JSONValueType: String, Sendable, Equatable, CaseIterable {
    case string, number, integer, boolean, object, array, null
}

/// One entry of `required`: a JSON pointer that must exist, optionally with a type.
public struct RequiredField: Sendable, Equatable {
    public var pointer: String
    public var type: JSONValueType?

    public init(_ pointer: String, type: JSONValueType? = nil) {
        self.pointer = pointer
        self.type = type
    }
}

/// One entry of `topics.contracts`: a topic (exact or glob) and the rules its records keep.
public struct TopicContract: Sendable, Equatable {
    /// An exact topic name or a glob where `*` matches any run of characters.
    public var topic: String
    /// The record's key must equal the value's field at this JSON pointer, as text (`key-from`).
    public var keyFrom: String?
    /// The record's event type must be one of these (`event-types`).
    public var eventTypes: [String]?
    /// The record's event type must equal the value's string at this pointer (`event-type-from`).
    public var eventTypeFrom: String?
    /// The value must be one JSON object (`value: json`); implied by any pointer rule.
    public var valueIsJSON = false
    /// Pointers that must exist in the value, in the order they are checked (`required`).
    public var required: [RequiredField] = []
    /// A cap on the value's size in bytes (`max-value-bytes`).
    public var maxValueBytes: Int?
    /// Enforce (default) or observe (`mode`).
    public var mode = ContractMode.enforce

    public init(topic: String) { self.topic = topic }

    /// Whether `topic` has a `*`, which makes it a glob.
    public var isGlob: Bool { topic.contains("*") }

    /// Whether checking a record needs its value parsed as JSON.
    public var needsJSON: Bool { valueIsJSON || keyFrom != nil || eventTypeFrom != nil || !required.isEmpty }
}

extension TopicContracts {
    /// Throws a `ConfigurationError` naming the first entry or setting that cannot work.
    public func validate() throws(ConfigurationError) {
        var exact: [String: Int] = [:]
        var globs: [String: Int] = [:]
        for (index, contract) in contracts.enumerated() {
            let name = "topics.contracts[\(index)]"
            try checkTopicPattern(contract.topic, name: "\(name).topic")
            if let earlier = contract.isGlob ? globs[contract.topic] : exact[contract.topic] {
                throw ConfigurationError(
                    "\(name).topic: \"\(contract.topic)\" is already topics.contracts[\(earlier)].topic")
            }
            if contract.isGlob { globs[contract.topic] = index } else { exact[contract.topic] = index }
            if let pointer = contract.keyFrom { try checkJSONPointer(pointer, name: "\(name).key-from") }
            if let pointer = contract.eventTypeFrom { try checkJSONPointer(pointer, name: "\(name).event-type-from") }
            for (position, field) in contract.required.enumerated() {
                try checkJSONPointer(field.pointer, name: "\(name).required[\(position)]")
            }
            if let types = contract.eventTypes, types.isEmpty || types.contains(where: \.isEmpty) {
                throw ConfigurationError("\(name).event-types: list at least one event type, none empty")
            }
            if let bytes = contract.maxValueBytes, bytes <= 0 {
                throw ConfigurationError("\(name).max-value-bytes must be positive")
            }
        }
    }
}

/// Throws unless `pointer` is a JSON pointer (RFC 6901) naming a field: `/` then tokens, `~`
/// only as `~0` or `~1`.
func checkJSONPointer(_ pointer: String, name: String) throws(ConfigurationError) {
    guard pointer.hasPrefix("/") else {
        throw ConfigurationError("\(name): \"\(pointer)\" is not a JSON pointer (starts with /)")
    }
    let bytes = Array(pointer.utf8)
    for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "~") {
        guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "0") || bytes[index + 1] == UInt8(ascii: "1")
        else {
            throw ConfigurationError(
                "\(name): \"\(pointer)\" is not a JSON pointer (~ must be ~0 for ~ or ~1 for /)")
        }
    }
}

/// Throws unless `pattern` is a topic name, or one with `*`s standing for any run of characters.
func checkTopicPattern(_ pattern: String, name: String) throws(ConfigurationError) {
    // A glob's other characters are those of topic names (where "." alone is not a name, but a part).
    let valid =
        pattern.contains("*")
        ? pattern.utf8.count <= 249
            && pattern.utf8.allSatisfy {
                $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: ".") || PublishBatch.isValidTopic([$0])
            }
        : PublishBatch.isValidTopic(Array(pattern.utf8))
    guard valid else {
        throw ConfigurationError(
            "\(name): \"\(pattern)\" is not a topic name or glob (1-249 of a-z A-Z 0-9 . _ - and * for any run)")
    }
}

extension GatewayConfiguration {
    /// Reads the `topics:` section (`apply(yaml:)`); see `TopicContracts` for what it means.
    ///
    /// ```yaml
    /// topics:
    ///   declared-only: false            # true (or enforce): UNKNOWN_TOPIC for a topic with no entry; observe
    ///   contracts:
    ///     - topic: casino.domain.my-action.v1   # exact name or glob (* matches any run of characters)
    ///       key-from: /userId
    ///       event-types: [casino.domain.my-action.v1]
    ///       event-type-from: /eventType
    ///       value: json
    ///       required: [/eventId, /eventTimestamp, /brandId, "/userId: string", "/payload: object"]
    ///       max-value-bytes: 64KiB
    ///       mode: enforce                # or observe
    /// ```
    mutating func applyTopics(_ section: inout ConfigSection) throws(ConfigurationError) {
        var topics = TopicContracts()
        section.used.insert("declared-only")
        if let value = section.values["declared-only"] {
            if let flag = value as? Bool {
                topics.declaredOnly = flag ? .enforce : nil
            } else if let text = value as? String, let mode = ContractMode(rawValue: text) {
                topics.declaredOnly = mode
            } else {
                throw ConfigurationError("\(section.name("declared-only")) must be true, false or observe")
            }
        }
        section.used.insert("contracts")
        switch section.values["contracts"] {
        case nil: break
        case let entries as [Any]:
            for (index, entry) in entries.enumerated() {
                let name = "\(section.path)contracts[\(index)]"
                guard let mapping = stringKeyed(entry) else {
                    throw ConfigurationError("\(name) must be a mapping with at least topic:")
                }
                var entrySection = ConfigSection(mapping, path: name + ".")
                topics.contracts.append(try Self.contract(&entrySection))
            }
        default:
            throw ConfigurationError("\(section.name("contracts")) must be a list of mappings, each with topic:")
        }
        try section.rejectUnknownKeys()
        try topics.validate()
        self.topics = topics
    }

    private static func contract(_ section: inout ConfigSection) throws(ConfigurationError) -> TopicContract {
        guard let topic = try section.string("topic") else {
            throw ConfigurationError("\(section.name("topic")) is missing")
        }
        var contract = TopicContract(topic: topic)
        contract.keyFrom = try section.string("key-from")
        if section.values["event-types"] != nil { contract.eventTypes = try section.strings("event-types") }
        contract.eventTypeFrom = try section.string("event-type-from")
        if let value = try section.string("value") {
            guard value == "json" else {
                throw ConfigurationError("\(section.name("value")): \"\(value)\" is not json (the only kind checked)")
            }
            contract.valueIsJSON = true
        }
        contract.required = try requiredFields(&section)
        if let bytes = try section.size("max-value-bytes") {
            guard bytes > 0, bytes <= Int64(Int32.max) else {
                throw ConfigurationError("\(section.name("max-value-bytes")) must be between 1 and 2GiB")
            }
            contract.maxValueBytes = Int(bytes)
        }
        if let mode = try section.string("mode") {
            guard let parsed = ContractMode(rawValue: mode) else {
                throw ConfigurationError("\(section.name("mode")): \"\(mode)\" is not enforce or observe")
            }
            contract.mode = parsed
        }
        try section.rejectUnknownKeys()
        return contract
    }

    /// `required`: pointers, each `/a/b` or `"/a/b: TYPE"` (or the flow pair `/a/b: TYPE`).
    private static func requiredFields(_ section: inout ConfigSection) throws(ConfigurationError) -> [RequiredField] {
        section.used.insert("required")
        guard let value = section.values["required"] else { return [] }
        guard let list = value as? [Any] else {
            throw ConfigurationError("\(section.name("required")) must be a list of JSON pointers")
        }
        var fields: [RequiredField] = []
        for (index, item) in list.enumerated() {
            let name = "\(section.name("required"))[\(index)]"
            var pointer: String
            var type: String?
            switch item {
            case let text as String:
                // "/a/b: object"; a pointer may hold a colon itself, so only a word after the last one is a type.
                pointer = text
                if let colon = text.range(of: ":", options: .backwards) {
                    let word = String(text[colon.upperBound...]).trimmingCharacters(in: .whitespaces)
                    if JSONValueType(rawValue: word) != nil || text[colon.upperBound...].hasPrefix(" ") {
                        pointer = String(text[..<colon.lowerBound])
                        type = word
                    }
                }
            case let item where stringKeyed(item)?.count == 1:
                let pair = stringKeyed(item)!
                pointer = pair.keys.first!
                guard let text = pair.values.first as? String else {
                    throw ConfigurationError("\(name): the type of \(pointer) must be a word such as string")
                }
                type = text
            default:
                throw ConfigurationError("\(name) must be a JSON pointer, optionally \"/pointer: type\"")
            }
            var field = RequiredField(pointer)
            if let type {
                guard let parsed = JSONValueType(rawValue: type) else {
                    let known = JSONValueType.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigurationError("\(name): \"\(type)\" is not a JSON type (\(known))")
                }
                field.type = parsed
            }
            try checkJSONPointer(field.pointer, name: name)
            fields.append(field)
        }
        return fields
    }
}

extension TopicContracts {
    /// The section as `sluice check-config` prints it: one line for the section, then per entry
    /// its topic and how it is matched, and one line per rule.
    public var summary: [String] {
        let declared: String
        switch declaredOnly {
        case nil: declared = "off: a topic with no entry is published unchecked"
        case .enforce: declared = "on: a topic with no entry gets UNKNOWN_TOPIC (28)"
        case .observe: declared = "observe: a topic with no entry is published and counted"
        }
        var lines = [
            "\(contracts.count) contract\(contracts.count == 1 ? "" : "s") (an exact name wins, else the first glob "
                + "below that matches), declared-only \(declared)"
        ]
        for contract in contracts {
            let matching = contract.isGlob ? "glob" : "exact name"
            let outcome = contract.mode == .enforce ? "CONTRACT_VIOLATION (27)" : "published and counted"
            lines.append("\(contract.topic) (\(matching); \(contract.mode.rawValue): a violation is \(outcome))")
            var rules: [String] = []
            if let bytes = contract.maxValueBytes { rules.append("max-value-bytes \(bytes)") }
            if let types = contract.eventTypes { rules.append("event-types \(types.joined(separator: ", "))") }
            if contract.needsJSON { rules.append("value json (one object)") }
            if let pointer = contract.keyFrom { rules.append("key-from \(pointer) (the key equals it, as text)") }
            if let pointer = contract.eventTypeFrom { rules.append("event-type-from \(pointer)") }
            if !contract.required.isEmpty {
                let fields = contract.required.map { field in
                    field.type.map { "\(field.pointer): \($0)" } ?? field.pointer
                }
                rules.append("required \(fields.joined(separator: ", "))")
            }
            lines += rules.isEmpty ? ["  (declared, no rule)"] : rules.map { "  " + $0 }
        }
        return lines
    }
}
