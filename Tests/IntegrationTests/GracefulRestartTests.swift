import CSluiceClient
import Foundation
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A C client publishing `total` records durably at a steady pace on a thread of its own, in
/// small batches and without waiting for acks, then flushing once; record `i` goes to player
/// `i % players.count` with value `PLAYER:SEQ`.
final class PacedCPublisher: Sendable {
    private struct State {
        var published = 0
        var finished = false
        var failure: String?
        var stopAsked = false
    }

    private let state = Mutex(State())

    init(socketPath: String, topic: String, players: [String], total: Int, eventsPerSecond: Double) {
        let thread = Thread { [self] in
            let failure = run(socketPath, topic, players, total, eventsPerSecond)
            state.withLock {
                $0.failure = failure
                $0.finished = true
            }
        }
        thread.name = "paced-c-publisher"
        thread.start()
    }

    /// Records the client has taken so far.
    var published: Int { state.withLock { $0.published } }
    /// Whether every record was taken and the final flush returned.
    var finished: Bool { state.withLock { $0.finished } }
    /// Why the publisher stopped early or the flush failed, or nil.
    var failure: String? { state.withLock { $0.failure } }

    /// Ends the load early, after a whole round of the players (so each has the same count),
    /// then flushes; `published` says how many were sent.
    func stop() { state.withLock { $0.stopAsked = true } }

    private func run(_ socketPath: String, _ topic: String, _ players: [String], _ total: Int, _ rate: Double)
        -> String?
    {
        var options = sluice_options()
        sluice_options_init(&options)
        options.max_batch_records = 25  // a write every few milliseconds: one is under way when the gateway stops
        options.reconnect_attempts = 200
        options.backoff_ms = 10
        options.backoff_max_ms = 100
        guard let client = sluice_connect(socketPath, &options) else { return "sluice_connect: out of memory" }
        defer { sluice_close(client) }
        let start = Date()
        for index in 0..<total {
            if index % players.count == 0 && state.withLock({ $0.stopAsked }) { break }
            if index % 25 == 0 {
                let due = start.addingTimeInterval(Double(index) / rate)
                if due > Date() { Thread.sleep(until: due) }
            }
            let player = players[index % players.count]
            let value = Array("\(player):\(index / players.count)".utf8)
            guard sluice_publish(client, topic, player, value, value.count, nil, 0) == SLUICE_OK else {
                return "publish \(index): \(String(cString: sluice_errstr(client)))"
            }
            state.withLock { $0.published = index + 1 }
        }
        guard sluice_flush(client, 60_000) == SLUICE_OK else {
            return "flush: \(String(cString: sluice_errstr(client)))"
        }
        return nil
    }
}

/// What an independent consumer found for records valued `PLAYER:SEQ`, `sequences` per player.
struct DeliveryCount: CustomStringConvertible {
    var lost = 0
    var duplicates = 0
    var reordered = 0
    var firstProblems: [String] = []

    init(_ records: [ConsumedRecord], players: [String], sequences: Int) {
        var eventIDs: Set<String> = []
        var order: [String: [Int]] = [:]
        for record in records {
            let value = String(decoding: record.value, as: UTF8.self)
            guard let id = record.header("event-id"), !eventIDs.contains(id) else {
                duplicates += 1
                if firstProblems.count < 5 { firstProblems.append("duplicate \(value)") }
                continue
            }
            eventIDs.insert(id)
            let parts = value.split(separator: ":")
            let key = String(decoding: record.key, as: UTF8.self)
            guard parts.count == 2, String(parts[0]) == key, let sequence = Int(parts[1]) else {
                firstProblems.append("record with key \(key) has value \(value)")
                continue
            }
            if let last = order[key]?.last, last >= sequence {
                reordered += 1
                if firstProblems.count < 5 { firstProblems.append("\(key): \(sequence) after \(last)") }
            }
            order[key, default: []].append(sequence)
        }
        for player in players {
            let seen = Set(order[player] ?? [])
            lost += (0..<sequences).filter { !seen.contains($0) }.count
        }
    }

    var description: String {
        "\(lost) lost, \(duplicates) duplicates, \(reordered) reordered \(firstProblems)"
    }
}

@Suite("Graceful restart under a steady load, real broker", .serialized, .timeLimit(.minutes(3)))
struct GracefulRestartTests {
    /// SIGTERM while a C client publishes, a new gateway on the same spool and socket: the
    /// client settles the ACKs the old gateway sent before resending, so nothing is duplicated.
    @Test func aCClientLosesNothingAndDuplicatesNothingAcrossASigtermAndRestart() throws {
        let broker = try DevBroker()
        let topic = "restart.c"
        try broker.createTopic(topic, partitions: 4)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/s.sock"
        let arguments = [
            "serve", "--socket", socketPath, "--brokers", broker.bootstrapServers, "--spool", directory + "/spool.db",
        ]
        var server = try startServer(arguments, socketPath: socketPath)
        defer {
            if server.isRunning {
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
        }

        let players = (0..<50).map { "player-\($0)" }
        let total = 20_000  // 4 s at 5,000 events/s
        let load = PacedCPublisher(
            socketPath: socketPath, topic: topic, players: players, total: total, eventsPerSecond: 5_000)
        try waitUntil("the client publishes its first second", timeout: 30) {
            load.published >= 5_000 || load.finished
        }
        kill(server.processIdentifier, SIGTERM)
        try waitUntil("the gateway exits after SIGTERM", timeout: 30) { !server.isRunning }
        #expect(server.terminationStatus == 0)
        let publishedAtStop = load.published
        try waitUntil("the client publishes on for half a second without a gateway", timeout: 30) {
            load.published >= publishedAtStop + 2_500 || load.finished
        }
        server = try startServer(arguments, socketPath: socketPath)
        try waitUntil("every record is published and the flush returns", timeout: 90) { load.finished }
        #expect(load.failure == nil)
        #expect(publishedAtStop < total - 2_500, "the restart came in the middle of the load")

        let records = try consume(topic: topic, brokers: broker.bootstrapServers, count: total)
        let count = DeliveryCount(records, players: players, sequences: total / players.count)
        #expect(count.lost == 0 && count.duplicates == 0 && count.reordered == 0, "\(count)")
        #expect(records.count == total, "read \(records.count) records, published \(total)")
        kill(server.processIdentifier, SIGTERM)
        try waitUntil("the second gateway exits", timeout: 30) { !server.isRunning }
    }
}
