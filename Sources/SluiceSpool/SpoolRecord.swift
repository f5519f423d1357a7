import Foundation

/// Where a spooled record stands.
public enum SpoolStatus: String, Sendable, CaseIterable, Codable {
    /// Waiting for delivery.
    case pending = "PENDING"
    /// Delivered to Kafka.
    case resolved = "RESOLVED"
    /// Sent to `{topic}.dlq` after too many broker-reported failures.
    case dlq = "DLQ"
    /// The DLQ publish failed too; kept for an operator.
    case dlqFailed = "DLQ_FAILED"
}

/// A record to put in the spool.
public struct SpoolRecord: Sendable, Equatable {
    /// The order the gateway routed records in; the spool delivers each key's records by it.
    /// Given at routing time, so a record that reaches the spool late (a delivery report
    /// after a purge) still sorts before records routed after it.
    public var sequence: Int64
    public var eventID: String
    public var topic: String
    public var key: [UInt8]
    public var headers: [SpoolHeader]
    public var value: [UInt8]
    /// Kafka timestamp, milliseconds since the Unix epoch.
    public var timestamp: Int64
    /// Who published it, e.g. `uid=1000 pid=4242 libsluice/0.1.0`.
    public var client: String
    /// Why it is spooled (the delivery error, or `circuit open`).
    public var reason: String
    /// Broker-reported failures so far (1 when Kafka already rejected it once).
    public var attempts = 0
    /// When it may first be retried, ms since the epoch; 0 means at once.
    public var nextRetryAt: Int64 = 0
    /// When it was first spooled (ms since the epoch), if it was; the spool stamps it otherwise.
    public var createdAt: Int64?

    public init(
        sequence: Int64, eventID: String, topic: String, key: [UInt8], headers: [SpoolHeader], value: [UInt8],
        timestamp: Int64, client: String, reason: String, attempts: Int = 0, nextRetryAt: Int64 = 0
    ) {
        self.attempts = attempts
        self.nextRetryAt = nextRetryAt
        self.sequence = sequence
        self.eventID = eventID
        self.topic = topic
        self.key = key
        self.headers = headers
        self.value = value
        self.timestamp = timestamp
        self.client = client
        self.reason = reason
    }

    /// Bytes this record adds to the spool, for its size cap.
    public var byteCount: Int {
        topic.utf8.count + key.count + value.count + eventID.utf8.count
            + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count }
    }
}

/// One Kafka header.
public struct SpoolHeader: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// A record as stored, with its delivery bookkeeping.
public struct StoredRecord: Sendable, Equatable {
    /// Row id, for operators.
    public var id: Int64
    public var record: SpoolRecord
    public var status: SpoolStatus
    /// Failures a reachable broker reported; outages do not count.
    public var attempts: Int
    /// Milliseconds since the epoch when the record may next be tried.
    public var nextRetryAt: Int64
    public var createdAt: Int64
    public var lastError: String?
    public var updatedAt: Int64
}

/// A (topic, key) pair: the unit of ordering.
public struct SpoolKey: Hashable, Sendable {
    public var topic: String
    public var key: [UInt8]

    public init(topic: String, key: [UInt8]) {
        self.topic = topic
        self.key = key
    }
}

/// An error opening or using the spool.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// True when the spool is at its size cap: publishers should get `OVERLOADED`.
    public var isFull: Bool

    public init(_ description: String, isFull: Bool = false) {
        self.description = description
        self.isFull = isFull
    }
}
