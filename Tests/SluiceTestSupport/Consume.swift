import Foundation
import SluiceKafka

/// Reads `topic` from the beginning until `count` records arrived, failing after `timeout` seconds.
public func consume(topic: String, brokers: String, count: Int, timeout: Double = 60) throws -> [ConsumedRecord] {
    let consumer = try KafkaConsumer(bootstrapServers: brokers)
    let partitions = try consumer.partitionCount(topic: topic)
    try consumer.assign(topic: topic, partitions: partitions)
    var records: [ConsumedRecord] = []
    let deadline = Date().addingTimeInterval(timeout)
    while records.count < count {
        guard Date() < deadline else {
            throw TestFailure("read \(records.count) of \(count) records from \(topic) within \(timeout) s")
        }
        if let record = try consumer.poll(timeoutMilliseconds: 200) { records.append(record) }
    }
    // Anything more that is already there is read too, so tests see extra records.
    while let record = try consumer.poll(timeoutMilliseconds: 500) { records.append(record) }
    return records
}

/// Checks records whose values are `"PLAYER:SEQ"`, sent with key `PLAYER` for `sequences`
/// sequence numbers each: every one present, each player's in order, on the Java client's partition.
public func verifyPlayerStreams(
    _ records: [ConsumedRecord], players: [String], sequences: Int, partitions: Int, allowDuplicates: Bool = false
) throws {
    var seen: [String: [Int]] = [:]
    for record in records {
        let key = String(decoding: record.key, as: UTF8.self)
        let value = String(decoding: record.value, as: UTF8.self)
        let parts = value.split(separator: ":")
        guard parts.count == 2, String(parts[0]) == key, let sequence = Int(parts[1]) else {
            throw TestFailure("record with key \(key) has unexpected value \(value)")
        }
        let expected = javaPartition(key: record.key, partitions: partitions)
        guard record.partition == expected else {
            throw TestFailure("key \(key) landed on partition \(record.partition), Java's murmur2 picks \(expected)")
        }
        seen[key, default: []].append(sequence)
    }
    // Records of one key are on one partition, so their consumed order is their log order.
    for player in players {
        let got = seen[player] ?? []
        let deduplicated =
            allowDuplicates ? got.reduce(into: [Int]()) { if $0.last != $1 && !$0.contains($1) { $0.append($1) } } : got
        guard deduplicated == Array(0..<sequences) else {
            throw TestFailure("player \(player) has sequence \(got.prefix(20))…, expected 0..<\(sequences) in order")
        }
    }
    let total = seen.values.reduce(0) { $0 + $1.count }
    if !allowDuplicates && total != players.count * sequences {
        throw TestFailure("read \(total) records, expected \(players.count * sequences)")
    }
}
