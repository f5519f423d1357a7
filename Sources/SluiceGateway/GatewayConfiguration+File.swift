import Foundation
import SluiceProtocol
import SluiceSpool
import Yams

extension GatewayConfiguration {
    /// Applies the settings of a YAML configuration file on top of this configuration.
    ///
    /// ```yaml
    /// socket: /run/sluice/sluice.sock
    /// socket-mode: "0660"
    /// shutdown-flush-timeout: 10s
    /// kafka:
    ///   brokers: kafka-1:9092,kafka-2:9092
    ///   compression: lz4
    ///   linger: 5ms
    ///   delivery-timeout: 30s
    ///   stamp-headers: [event-id, event-type, sluice-uid, sluice-pid]   # the default; [] for none
    ///   socket.keepalive.enable: true     # any key with a dot is a librdkafka property
    /// limits: { max-frame-bytes: 1MiB, max-records-per-frame: 10000 }
    /// spool: { path: /var/lib/sluice/spool.db, synchronous: FULL, max-bytes: 1GiB }
    /// metrics: { listen: 127.0.0.1:9464 }
    /// ```
    /// Keys are kebab-case; durations take a unit (`500ms`, `60s`, `5m`, `1h`, `7d`), sizes
    /// may (`64KiB`, `1GiB`, `10MB`). Unknown keys are errors, and a key of the old camelCase
    /// format gets an error naming its new spelling.
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
            throw ConfigurationError("not valid YAML: \(yamlSyntaxError(error))")
        }
        guard var root = document as? [String: Any] else {
            if document == nil { return }
            throw ConfigurationError("the top level must be a mapping")
        }
        root["kafka"] = Self.librdkafkaValuesAsWritten(root["kafka"], text: text)
        var file = ConfigSection(root, path: "")
        if let value = try file.string("socket") { socketPath = value }
        if let mode = try file.mode("socket-mode") { socketMode = mode }
        if let value = try file.duration("shutdown-flush-timeout") {
            shutdownFlushTimeoutMilliseconds = Int(value)
        }
        if var spool = try file.section("spool") {
            if let value = try spool.string("path") { spoolPath = value }
            if let value = try spool.string("synchronous") {
                guard let mode = SpoolSynchronous(rawValue: value.uppercased()) else {
                    throw ConfigurationError("spool.synchronous must be FULL, NORMAL or OFF")
                }
                spoolSynchronous = mode
            }
            if let value = try spool.size("max-bytes") { spoolMaxBytes = value }
            try spool.rejectUnknownKeys()
        }
        if var kafka = try file.section("kafka") { try applyKafka(&kafka) }
        if var section = try file.section("limits") { try applyLimits(&section) }
        if var section = try file.section("access") { try applyAccess(&section) }
        if var section = try file.section("topics") { try applyTopics(&section) }
        if var section = try file.section("health") {
            if let value = try section.duration("circuit-open-longer-than") {
                health.maxCircuitOpenMilliseconds = value
            }
            if let value = try section.percent("spool-fuller-than") { health.spoolFullPercent = value }
            try section.rejectUnknownKeys()
        }
        if var section = try file.section("log") {
            if let value = try section.string("level") { log.level = value }
            if let value = try section.string("format") { log.format = value }
            try section.rejectUnknownKeys()
        }
        if var section = try file.section("metrics") {
            if let value = try section.string("listen") { metricsListen = value.isEmpty ? nil : value }
            try section.rejectUnknownKeys()
        }
        try file.rejectUnknownKeys()
    }

    /// The `kafka:` mapping with librdkafka's own properties (keys with a dot, and those under
    /// `properties`) as the file spells them: YAML would make `sasl.password: no` false,
    /// `0123` the number 83 and `1e3` 1000.0, which librdkafka would then be given.
    private static func librdkafkaValuesAsWritten(_ kafka: Any?, text: String) -> Any? {
        func typed(_ value: Any?) -> Bool { value is Bool || value is Int || value is Double }
        guard var kafka = kafka as? [String: Any],
            let raw = ((try? Yams.load(yaml: text, .basic)) as? [String: Any])?["kafka"] as? [String: Any]
        else { return kafka }
        for (key, value) in raw where key.contains(".") && value is String && typed(kafka[key]) { kafka[key] = value }
        if var properties = kafka["properties"] as? [String: Any], let written = raw["properties"] as? [String: Any] {
            for (key, value) in written where value is String && typed(properties[key]) { properties[key] = value }
            kafka["properties"] = properties
        }
        return kafka
    }

    private mutating func applyKafka(_ kafka: inout ConfigSection) throws(ConfigurationError) {
        // `${NAME}` and `X-file: PATH` (GatewayConfiguration+Secrets.swift).
        kafka = try resolvingSecrets(in: kafka)
        if let value = try kafka.string("brokers") { producer.bootstrapServers = value }
        if let value = try kafka.string("compression") { producer.compression = value }
        if let value = try kafka.duration("linger") { producer.lingerMilliseconds = Int(value) }
        if let value = try kafka.duration("delivery-timeout") { producer.deliveryTimeoutMilliseconds = Int(value) }
        if let value = try kafka.int("queue-max-messages") { producer.queueMaxMessages = value }
        if let value = try kafka.size("queue-max-bytes") {
            producer.queueMaxKilobytes = Int(max(1, value / 1_024))
        }
        if let value = try kafka.string("client-id") { producer.clientID = value }
        if kafka.values["stamp-headers"] != nil {
            var chosen: [StampedHeaders.Header] = []
            for name in try kafka.strings("stamp-headers") {
                guard let header = StampedHeaders.Header(rawValue: name) else {
                    let known = StampedHeaders.Header.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigurationError(
                        "\(kafka.name("stamp-headers")): \(name) is not a stamped header (\(known), or [] for none)")
                }
                chosen.append(header)
            }
            stampHeaders = StampedHeaders(chosen)
        }
        if var fallback = try kafka.section("fallback") {
            if let value = try fallback.bool("store-failures") { storeFailures = value }
            try fallback.rejectUnknownKeys()
        }
        if var section = try kafka.section("retry") {
            if let value = try section.duration("interval") { retry.intervalMilliseconds = value }
            if let value = try section.int("max-attempts") { retry.maxAttempts = value }
            if let value = try section.int("batch-size") { retry.batchSize = value }
            if let values = try section.durations("backoff") { retry.backoffMilliseconds = values }
            try section.rejectUnknownKeys()
        }
        if var breaker = try kafka.section("circuit-breaker") {
            if let value = try breaker.percent("failure-rate-threshold") { circuitBreaker.failureRateThreshold = value }
            if let value = try breaker.int("sliding-window-size") { circuitBreaker.slidingWindowSize = value }
            if let value = try breaker.int("minimum-number-of-calls") { circuitBreaker.minimumNumberOfCalls = value }
            if let value = try breaker.duration("wait-duration-in-open-state") {
                circuitBreaker.waitDurationInOpenStateMilliseconds = value
            }
            if let value = try breaker.int("permitted-calls-in-half-open-state") {
                circuitBreaker.permittedCallsInHalfOpenState = value
            }
            if let value = try breaker.duration("stall-timeout") { stallTimeoutMilliseconds = value }
            try breaker.rejectUnknownKeys()
        }
        // librdkafka's own property names: under `properties`, or directly (they have a dot).
        if var properties = try kafka.section("properties") {
            for key in properties.keys { producer.properties[key] = try properties.string(key) }
        }
        for key in kafka.keys where key.contains(".") { producer.properties[key] = try kafka.string(key) }
        try kafka.rejectUnknownKeys()
        noteLiteralSecrets()
    }

    private mutating func applyLimits(_ section: inout ConfigSection) throws(ConfigurationError) {
        func size<T: FixedWidthInteger>(_ key: String, _ field: WritableKeyPath<Limits, T>) throws(ConfigurationError) {
            if let value = try section.size(key) { limits[keyPath: field] = try narrow(value, key) }
        }
        func count<T: FixedWidthInteger>(_ key: String, _ field: WritableKeyPath<Limits, T>) throws(ConfigurationError)
        {
            if let value = try section.int(key) { limits[keyPath: field] = try narrow(Int64(value), key) }
        }
        try size("max-frame-bytes", \.maxFrameBytes)
        try size("max-decompressed-bytes", \.maxDecompressedBytes)
        try count("max-records-per-frame", \.maxRecordsPerFrame)
        try size("max-record-bytes", \.maxRecordBytes)
        try size("max-key-bytes", \.maxKeyBytes)
        try count("max-headers", \.maxHeaders)
        try size("max-header-bytes", \.maxHeaderBytes)
        try size("max-unacked-bytes", \.maxUnackedBytes)
        try count("max-connections", \.maxConnections)
        if let value = try section.duration("handshake-timeout") {
            limits.handshakeTimeoutMilliseconds = try narrow(value, "handshake-timeout")
        }
        if let value = try section.duration("idle-timeout") {
            guard let timeout = UInt32(exactly: value) else {
                throw ConfigurationError("limits.idle-timeout out of range")
            }
            limits.idleTimeoutMilliseconds = timeout
        }
        try section.rejectUnknownKeys()
    }

    private mutating func applyAccess(_ section: inout ConfigSection) throws(ConfigurationError) {
        if let value = try section.string("socket-group") { access.socketGroup = value }
        if let values = try section.ints("allowed-uids") {
            access.allowedUIDs = []
            for value in values { access.allowedUIDs?.insert(try id(value)) }
        }
        if let values = try section.ints("allowed-gids") {
            access.allowedGIDs = []
            for value in values { access.allowedGIDs?.insert(try id(value)) }
        }
        if var byUID = try section.section("topic-prefixes-by-uid") {
            for key in byUID.keys { access.topicPrefixesByUID[try id(key)] = try byUID.strings(key) }
        }
        if var byGID = try section.section("topic-prefixes-by-gid") {
            for key in byGID.keys { access.topicPrefixesByGID[try id(key)] = try byGID.strings(key) }
        }
        try section.rejectUnknownKeys()
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

private func narrow<T: FixedWidthInteger>(_ value: Int64, _ name: String) throws(ConfigurationError) -> T {
    guard let narrowed = T(exactly: value), narrowed > 0 else {
        throw ConfigurationError("limits.\(name) must be between 1 and \(T.max)")
    }
    return narrowed
}
