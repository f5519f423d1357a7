import Foundation

/// One mapping of a configuration file, remembering which keys were read.
struct ConfigSection {
    let values: [String: Any]
    let path: String
    var used: Set<String> = []

    init(_ values: [String: Any], path: String) {
        self.values = values
        self.path = path
    }

    var keys: [String] { values.keys.sorted() }

    func name(_ key: String) -> String { "\(path)\(key)" }

    mutating func string(_ key: String) throws(ConfigurationError) -> String? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as String: return value
        case let value as Int: return String(value)
        case let value as Bool: return String(value)
        case let value as Double: return String(value)
        default: throw ConfigurationError("\(name(key)) must be a string")
        }
    }

    mutating func int(_ key: String) throws(ConfigurationError) -> Int? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Int: return value
        default: throw ConfigurationError("\(name(key)) must be an integer")
        }
    }

    /// A duration with a unit (`250ms`, `60s`, `5m`, `1h`, `7d`), in milliseconds; a bare 0 is allowed.
    mutating func duration(_ key: String) throws(ConfigurationError) -> Int64? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Int where value == 0: return 0
        case let value as Int:
            throw ConfigurationError("\(name(key)): \(value) needs a unit, e.g. \(value)ms or \(value)s")
        case let value as String:
            guard let milliseconds = parseDuration(value) else {
                throw ConfigurationError("\(name(key)): \(value) is not a duration such as 500ms, 60s, 5m, 1h or 7d")
            }
            return milliseconds
        default: throw ConfigurationError("\(name(key)) must be a duration such as 500ms, 60s, 5m, 1h or 7d")
        }
    }

    /// A list of durations, in milliseconds.
    mutating func durations(_ key: String) throws(ConfigurationError) -> [Int64]? {
        used.insert(key)
        guard let value = values[key] else { return nil }
        guard let list = value as? [Any] else { throw ConfigurationError("\(name(key)) must be a list of durations") }
        var result: [Int64] = []
        for item in list {
            guard let text = item as? String, let milliseconds = parseDuration(text) else {
                throw ConfigurationError("\(name(key)): \(item) is not a duration such as 500ms, 60s, 5m, 1h or 7d")
            }
            result.append(milliseconds)
        }
        return result
    }

    /// A size in bytes: a bare number, or one with a unit (`64KiB`, `1MiB`, `1GiB`, `10MB`, `1GB`).
    mutating func size(_ key: String) throws(ConfigurationError) -> Int64? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Int: return Int64(value)
        case let value as String:
            guard let bytes = parseSize(value) else {
                throw ConfigurationError("\(name(key)): \(value) is not a size such as 65536, 64KiB, 1MiB or 1GiB")
            }
            return bytes
        default: throw ConfigurationError("\(name(key)) must be a size such as 65536, 64KiB, 1MiB or 1GiB")
        }
    }

    /// A percentage: `50` or `"50%"`.
    mutating func percent(_ key: String) throws(ConfigurationError) -> Double? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Int: return Double(value)
        case let value as Double: return value
        case let value as String:
            let number = value.hasSuffix("%") ? String(value.dropLast()) : value
            guard let percent = Double(number.trimmingCharacters(in: .whitespaces)) else {
                throw ConfigurationError("\(name(key)): \(value) is not a percentage such as 90%")
            }
            return percent
        default: throw ConfigurationError("\(name(key)) must be a percentage such as 90%")
        }
    }

    /// A permission mode: quoted octal text ("0660"), or an unquoted 0660, which YAML
    /// already reads as an octal number.
    mutating func mode(_ key: String) throws(ConfigurationError) -> UInt32? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Int:
            guard let mode = UInt32(exactly: value), mode <= 0o777 else {
                throw ConfigurationError("\(name(key)) is not a permission mode; write it as \"0660\"")
            }
            return mode
        case let value as String:
            guard let mode = UInt32(value, radix: 8) else {
                throw ConfigurationError("\(name(key)) \(value) is not octal")
            }
            return mode
        default:
            throw ConfigurationError("\(name(key)) must be an octal mode such as \"0660\"")
        }
    }

    mutating func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Bool: return value
        default: throw ConfigurationError("\(name(key)) must be true or false")
        }
    }

    mutating func strings(_ key: String) throws(ConfigurationError) -> [String] {
        used.insert(key)
        switch values[key] {
        case let value as [String]: return value
        case let value as String: return [value]
        default: throw ConfigurationError("\(name(key)) must be a list of strings")
        }
    }

    mutating func ints(_ key: String) throws(ConfigurationError) -> [Int]? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as [Int]: return value
        default: throw ConfigurationError("\(name(key)) must be a list of integers")
        }
    }

    mutating func section(_ key: String) throws(ConfigurationError) -> ConfigSection? {
        used.insert(key)
        guard let value = values[key] else { return nil }
        guard let mapping = stringKeyed(value) else { throw ConfigurationError("\(name(key)) must be a mapping") }
        return ConfigSection(mapping, path: "\(path)\(key).")
    }

    /// Throws for the first key nothing read; a key renamed in 0.2 gets its new spelling.
    func rejectUnknownKeys() throws(ConfigurationError) {
        guard let unknown = values.keys.sorted().first(where: { !used.contains($0) }) else { return }
        if let renamed = renamedKeys[name(unknown)] {
            throw ConfigurationError("\(name(unknown)) is now spelt \(renamed)")
        }
        // A librdkafka property without a dot (`debug`, `acks`) reads as a setting of ours here.
        let hint = name(unknown) == "kafka.\(unknown)" ? " (a librdkafka property goes under kafka.properties)" : ""
        throw ConfigurationError("unknown setting \(name(unknown))\(hint)")
    }
}

/// Keys of the 0.1 file format and their 0.2 spelling: kebab-case, durations and sizes with units.
let renamedKeys: [String: String] = [
    "socketMode": "socket-mode",
    "shutdownFlushTimeoutMs": "shutdown-flush-timeout (with a unit, e.g. 10s)",
    "kafka.lingerMs": "kafka.linger (with a unit, e.g. 5ms)",
    "kafka.deliveryTimeoutMs": "kafka.delivery-timeout (with a unit, e.g. 30s)",
    "kafka.queueMaxMessages": "kafka.queue-max-messages",
    "kafka.queueMaxKbytes": "kafka.queue-max-bytes (a size, e.g. 256MiB)",
    "kafka.clientId": "kafka.client-id",
    "kafka.retry.maxAttempts": "kafka.retry.max-attempts",
    "kafka.retry.batchSize": "kafka.retry.batch-size",
    "kafka.fallback.storeFailures": "kafka.fallback.store-failures",
    "spool.maxBytes": "spool.max-bytes (a size, e.g. 1GiB)",
    "limits.maxFrameBytes": "limits.max-frame-bytes",
    "limits.maxDecompressedBytes": "limits.max-decompressed-bytes",
    "limits.maxRecordsPerFrame": "limits.max-records-per-frame",
    "limits.maxRecordBytes": "limits.max-record-bytes",
    "limits.maxKeyBytes": "limits.max-key-bytes",
    "limits.maxHeaders": "limits.max-headers",
    "limits.maxHeaderBytes": "limits.max-header-bytes",
    "limits.maxUnackedBytes": "limits.max-unacked-bytes",
    "limits.handshakeTimeoutMs": "limits.handshake-timeout (with a unit, e.g. 5s)",
    "limits.idleTimeoutMs": "limits.idle-timeout (with a unit, e.g. 10m)",
    "limits.maxConnections": "limits.max-connections",
    "access.socketGroup": "access.socket-group",
    "access.allowedUIDs": "access.allowed-uids",
    "access.allowedGIDs": "access.allowed-gids",
    "access.topicPrefixesByUID": "access.topic-prefixes-by-uid",
    "access.topicPrefixesByGID": "access.topic-prefixes-by-gid",
]

/// Milliseconds in a duration such as `250ms`, `1.5s`, `5m`, `1h` or `7d`.
public func parseDuration(_ text: String) -> Int64? {
    let units: [(String, Double)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    for (unit, factor) in units where trimmed.hasSuffix(unit) {
        let number = trimmed.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
        // "5ms" also ends in "s": only a number before the unit counts.
        guard let value = Double(number), value >= 0, value.isFinite else { continue }
        return Int64((value * factor).rounded())
    }
    return nil
}

/// Bytes in a size such as `65536`, `64KiB`, `1MiB`, `1GiB`, `10MB` or `1GB`.
public func parseSize(_ text: String) -> Int64? {
    let units: [(String, Double)] = [
        ("KiB", 1_024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
    ]
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if let bytes = Int64(trimmed), bytes >= 0 { return bytes }
    for (unit, factor) in units where trimmed.hasSuffix(unit) {
        let number = trimmed.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value >= 0, value.isFinite, value * factor < 9.2e18 else { continue }
        return Int64((value * factor).rounded())
    }
    return nil
}

/// A YAML mapping with its keys as text (YAML reads numeric keys, such as uids and gids, as
/// numbers), or nil for anything else.
func stringKeyed(_ value: Any) -> [String: Any]? {
    if let mapping = value as? [String: Any] { return mapping }
    guard let mapping = value as? [AnyHashable: Any] else { return nil }
    return Dictionary(mapping.map { ("\($0.key.base)", $0.value) }, uniquingKeysWith: { first, _ in first })
}
