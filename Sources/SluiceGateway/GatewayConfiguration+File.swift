import Foundation
import SluiceSpool
import Yams

extension GatewayConfiguration {
    /// Applies the settings of a YAML configuration file on top of this configuration.
    ///
    /// ```yaml
    /// socket: /run/sluice/sluice.sock
    /// socketMode: "0660"
    /// shutdownFlushTimeoutMs: 10000
    /// kafka:
    ///   brokers: kafka-1:9092,kafka-2:9092
    ///   compression: lz4
    ///   lingerMs: 5
    ///   deliveryTimeoutMs: 30000
    ///   properties: { "socket.keepalive.enable": "true" }
    /// limits: { maxFrameBytes: 1048576, maxRecordsPerFrame: 10000 }
    /// spool: { path: /var/lib/sluice/spool.db, synchronous: FULL, maxBytes: 1073741824 }
    /// ```
    /// Under `kafka`, `fallback.store-failures`, `retry` (`interval`, `backoff` list, `max-attempts`,
    /// `batch-size`; milliseconds) and `circuit-breaker` (resilience4j's names) are accepted too.
    /// Unknown keys are errors, so a misspelt setting is not silently ignored.
    public mutating func apply(yamlFile path: String) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read configuration file \(path): \(error.localizedDescription)")
        }
        do {
            try apply(yaml: text)
        } catch {
            throw ConfigurationError("\(path): \(error.description)")
        }
    }

    /// Applies the settings of a YAML document (see `apply(yamlFile:)`).
    public mutating func apply(yaml text: String) throws(ConfigurationError) {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationError("not valid YAML: \(error)")
        }
        guard let root = document as? [String: Any] else {
            if document == nil { return }
            throw ConfigurationError("the top level must be a mapping")
        }
        var file = Section(root, path: "")
        if let value = try file.string("socket") { socketPath = value }
        if let mode = try file.mode("socketMode") { socketMode = mode }
        if let value = try file.int("shutdownFlushTimeoutMs") { shutdownFlushTimeoutMilliseconds = value }
        if var spool = try file.section("spool") {
            if let value = try spool.string("path") { spoolPath = value }
            if let value = try spool.string("synchronous") {
                guard let mode = SpoolSynchronous(rawValue: value.uppercased()) else {
                    throw ConfigurationError("spool.synchronous must be FULL, NORMAL or OFF")
                }
                spoolSynchronous = mode
            }
            if let value = try spool.int("maxBytes") { spoolMaxBytes = Int64(value) }
            try spool.rejectUnknownKeys()
        }
        if var kafka = try file.section("kafka") {
            if let value = try kafka.string("brokers") { producer.bootstrapServers = value }
            if let value = try kafka.string("compression") { producer.compression = value }
            if let value = try kafka.int("lingerMs") { producer.lingerMilliseconds = value }
            if let value = try kafka.int("deliveryTimeoutMs") { producer.deliveryTimeoutMilliseconds = value }
            if let value = try kafka.int("queueMaxMessages") { producer.queueMaxMessages = value }
            if let value = try kafka.int("queueMaxKbytes") { producer.queueMaxKilobytes = value }
            if let value = try kafka.string("clientId") { producer.clientID = value }
            if var fallback = try kafka.section("fallback") {
                if let value = try fallback.bool("store-failures") { storeFailures = value }
                try fallback.rejectUnknownKeys()
            }
            if var retrySection = try kafka.section("retry") {
                if let value = try retrySection.int("interval") { retry.intervalMilliseconds = Int64(value) }
                if let value = try retrySection.int("max-attempts") { retry.maxAttempts = value }
                if let value = try retrySection.int("batch-size") { retry.batchSize = value }
                if let values = try retrySection.ints("backoff") { retry.backoffMilliseconds = values.map(Int64.init) }
                try retrySection.rejectUnknownKeys()
            }
            if var breaker = try kafka.section("circuit-breaker") {
                if let value = try breaker.int("failure-rate-threshold") {
                    circuitBreaker.failureRateThreshold = Double(value)
                }
                if let value = try breaker.int("sliding-window-size") { circuitBreaker.slidingWindowSize = value }
                if let value = try breaker.int("minimum-number-of-calls") {
                    circuitBreaker.minimumNumberOfCalls = value
                }
                if let value = try breaker.int("wait-duration-in-open-state") {
                    circuitBreaker.waitDurationInOpenStateMilliseconds = Int64(value)
                }
                if let value = try breaker.int("permitted-calls-in-half-open-state") {
                    circuitBreaker.permittedCallsInHalfOpenState = value
                }
                if let value = try breaker.int("stall-timeout") { stallTimeoutMilliseconds = Int64(value) }
                try breaker.rejectUnknownKeys()
            }
            if var properties = try kafka.section("properties") {
                for key in properties.keys { producer.properties[key] = try properties.string(key) }
            }
            try kafka.rejectUnknownKeys()
        }
        if var section = try file.section("limits") {
            if let value = try section.int("maxFrameBytes") {
                limits.maxFrameBytes = try narrow(value, "maxFrameBytes")
            }
            if let value = try section.int("maxDecompressedBytes") {
                limits.maxDecompressedBytes = try narrow(value, "maxDecompressedBytes")
            }
            if let value = try section.int("maxRecordsPerFrame") {
                limits.maxRecordsPerFrame = try narrow(value, "maxRecordsPerFrame")
            }
            if let value = try section.int("maxRecordBytes") {
                limits.maxRecordBytes = try narrow(value, "maxRecordBytes")
            }
            if let value = try section.int("maxKeyBytes") { limits.maxKeyBytes = try narrow(value, "maxKeyBytes") }
            if let value = try section.int("maxHeaders") { limits.maxHeaders = try narrow(value, "maxHeaders") }
            if let value = try section.int("maxHeaderBytes") {
                limits.maxHeaderBytes = try narrow(value, "maxHeaderBytes")
            }
            if let value = try section.int("maxUnackedBytes") {
                limits.maxUnackedBytes = try narrow(value, "maxUnackedBytes")
            }
            if let value = try section.int("handshakeTimeoutMs") {
                limits.handshakeTimeoutMilliseconds = try narrow(value, "handshakeTimeoutMs")
            }
            if let value = try section.int("idleTimeoutMs") {
                guard let timeout = UInt32(exactly: value) else {
                    throw ConfigurationError("limits.idleTimeoutMs out of range")
                }
                limits.idleTimeoutMilliseconds = timeout
            }
            if let value = try section.int("maxConnections") {
                limits.maxConnections = try narrow(value, "maxConnections")
            }
            try section.rejectUnknownKeys()
        }
        if var section = try file.section("access") {
            if let value = try section.string("socketGroup") { access.socketGroup = value }
            if let values = try section.ints("allowedUIDs") {
                access.allowedUIDs = []
                for value in values { access.allowedUIDs?.insert(try id(value)) }
            }
            if let values = try section.ints("allowedGIDs") {
                access.allowedGIDs = []
                for value in values { access.allowedGIDs?.insert(try id(value)) }
            }
            if var byUID = try section.section("topicPrefixesByUID") {
                for key in byUID.keys { access.topicPrefixesByUID[try id(key)] = try byUID.strings(key) }
            }
            if var byGID = try section.section("topicPrefixesByGID") {
                for key in byGID.keys { access.topicPrefixesByGID[try id(key)] = try byGID.strings(key) }
            }
            try section.rejectUnknownKeys()
        }
        try file.rejectUnknownKeys()
    }
}

private func id(_ value: Int) throws(ConfigurationError) -> UInt32 {
    guard let id = UInt32(exactly: value) else { throw ConfigurationError("\(value) is not a uid or gid") }
    return id
}

private func id(_ key: String) throws(ConfigurationError) -> UInt32 {
    guard let id = UInt32(key) else { throw ConfigurationError("\(key) is not a numeric uid or gid") }
    return id
}

private func narrow<T: FixedWidthInteger>(_ value: Int, _ name: String) throws(ConfigurationError) -> T {
    guard let narrowed = T(exactly: value), narrowed > 0 else {
        throw ConfigurationError("limits.\(name) must be between 1 and \(T.max)")
    }
    return narrowed
}

/// One mapping of the file, remembering which keys were read.
private struct Section {
    let values: [String: Any]
    let path: String
    var used: Set<String> = []

    init(_ values: [String: Any], path: String) {
        self.values = values
        self.path = path
    }

    var keys: [String] { values.keys.sorted() }

    mutating func string(_ key: String) throws(ConfigurationError) -> String? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as String: return value
        case let value as Int: return String(value)
        case let value as Bool: return String(value)
        case let value as Double: return String(value)
        default: throw ConfigurationError("\(path)\(key) must be a string")
        }
    }

    mutating func int(_ key: String) throws(ConfigurationError) -> Int? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Int: return value
        default: throw ConfigurationError("\(path)\(key) must be an integer")
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
                throw ConfigurationError("\(path)\(key) is not a permission mode; write it as \"0660\"")
            }
            return mode
        case let value as String:
            guard let mode = UInt32(value, radix: 8) else {
                throw ConfigurationError("\(path)\(key) \(value) is not octal")
            }
            return mode
        default:
            throw ConfigurationError("\(path)\(key) must be an octal mode such as \"0660\"")
        }
    }

    mutating func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as Bool: return value
        default: throw ConfigurationError("\(path)\(key) must be true or false")
        }
    }

    mutating func strings(_ key: String) throws(ConfigurationError) -> [String] {
        used.insert(key)
        switch values[key] {
        case let value as [String]: return value
        case let value as String: return [value]
        default: throw ConfigurationError("\(path)\(key) must be a list of strings")
        }
    }

    mutating func ints(_ key: String) throws(ConfigurationError) -> [Int]? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as [Int]: return value
        default: throw ConfigurationError("\(path)\(key) must be a list of integers")
        }
    }

    mutating func section(_ key: String) throws(ConfigurationError) -> Section? {
        used.insert(key)
        switch values[key] {
        case nil: return nil
        case let value as [String: Any]: return Section(value, path: "\(path)\(key).")
        case let value as [AnyHashable: Any]:
            // YAML reads numeric keys (uids, gids) as numbers.
            let keyed = Dictionary(value.map { ("\($0.key.base)", $0.value) }, uniquingKeysWith: { first, _ in first })
            return Section(keyed, path: "\(path)\(key).")
        default: throw ConfigurationError("\(path)\(key) must be a mapping")
        }
    }

    func rejectUnknownKeys() throws(ConfigurationError) {
        if let unknown = values.keys.sorted().first(where: { !used.contains($0) }) {
            throw ConfigurationError("unknown setting \(path)\(unknown)")
        }
    }
}
