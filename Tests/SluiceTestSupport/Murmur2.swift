/// Kafka's Java client hash (`Utils.murmur2`), written independently of librdkafka.
public func javaMurmur2(_ data: [UInt8]) -> Int32 {
    let seed: UInt32 = 0x9747_b28c
    let m: UInt32 = 0x5bd1_e995
    var h = seed ^ UInt32(data.count)
    let whole = data.count / 4
    for i in 0..<whole {
        let at = i * 4
        var k = UInt32(data[at]) | UInt32(data[at + 1]) << 8 | UInt32(data[at + 2]) << 16 | UInt32(data[at + 3]) << 24
        k &*= m
        k ^= k >> 24
        k &*= m
        h &*= m
        h ^= k
    }
    let tail = whole * 4
    switch data.count % 4 {
    case 3:
        h ^= UInt32(data[tail + 2]) << 16
        h ^= UInt32(data[tail + 1]) << 8
        h ^= UInt32(data[tail])
        h &*= m
    case 2:
        h ^= UInt32(data[tail + 1]) << 8
        h ^= UInt32(data[tail])
        h &*= m
    case 1:
        h ^= UInt32(data[tail])
        h &*= m
    default:
        break
    }
    h ^= h >> 13
    h &*= m
    h ^= h >> 15
    return Int32(bitPattern: h)
}

/// The partition Kafka's Java `DefaultPartitioner` picks for a keyed record.
public func javaPartition(key: [UInt8], partitions: Int) -> Int32 {
    Int32((Int(javaMurmur2(key)) & 0x7fff_ffff) % partitions)
}
