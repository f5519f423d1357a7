import Foundation
import SluiceProtocol
import Synchronization

/// The gateway's counters; cheap to bump from any thread.
public final class GatewayStats: Sendable {
    let started = Date()
    let connectionsCurrent = Atomic<Int>(0)
    let connectionsTotal = Atomic<Int>(0)
    let framesReceived = Atomic<Int>(0)
    let framesRejected = Atomic<Int>(0)
    let recordsReceived = Atomic<Int>(0)
    let recordsInvalid = Atomic<Int>(0)
    let recordsPublished = Atomic<Int>(0)
    let recordsFailed = Atomic<Int>(0)
    /// Count of each error code sent, in an `ERROR` frame or as a per-record code.
    private let errors = Mutex<[ErrorCode: Int]>([:])

    init() {}

    func countError(_ code: ErrorCode, by amount: Int = 1) {
        errors.withLock { $0[code, default: 0] += amount }
    }

    /// A consistent-enough copy of every counter, as STATS reports it.
    public func snapshot(queueDepth: Int, brokers: String) -> StatsSnapshot {
        let errorCounts = errors.withLock { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.name, $0.value) }) }
        return StatsSnapshot(
            uptimeSeconds: Date().timeIntervalSince(started),
            connections: .init(
                current: connectionsCurrent.load(ordering: .relaxed), total: connectionsTotal.load(ordering: .relaxed)),
            frames: .init(
                received: framesReceived.load(ordering: .relaxed), rejected: framesRejected.load(ordering: .relaxed)),
            records: .init(
                received: recordsReceived.load(ordering: .relaxed), invalid: recordsInvalid.load(ordering: .relaxed),
                published: recordsPublished.load(ordering: .relaxed), failed: recordsFailed.load(ordering: .relaxed)),
            errors: errorCounts,
            kafka: .init(queueDepth: queueDepth, brokers: brokers))
    }
}

/// The STATS document (PROTOCOL.md section 3.5).
public struct StatsSnapshot: Codable, Sendable, Equatable {
    public struct Connections: Codable, Sendable, Equatable {
        public var current: Int
        public var total: Int
    }

    public struct Frames: Codable, Sendable, Equatable {
        public var received: Int
        public var rejected: Int
    }

    public struct Records: Codable, Sendable, Equatable {
        public var received: Int
        public var invalid: Int
        public var published: Int
        public var failed: Int
    }

    public struct Kafka: Codable, Sendable, Equatable {
        public var queueDepth: Int
        public var brokers: String
    }

    public var uptimeSeconds: Double
    public var connections: Connections
    public var frames: Frames
    public var records: Records
    public var errors: [String: Int]
    public var kafka: Kafka

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}
