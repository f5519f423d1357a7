/// The distinct topics of a `PublishBatch` and, per record, the index of its topic.
///
/// Made once per batch, on the connection's loop while the payload is in that core's cache,
/// and used by everything after: the contract check, the routing, the counters.
public struct BatchTopics: Sendable {
    /// Each distinct topic name, in order of first appearance (at most 65,535; records of
    /// later new names count under the last one).
    public let names: [String]
    /// `names` index of each record's topic.
    public let ofRecord: [UInt16]

    public init(_ batch: PublishBatch) {
        var names: [String] = []
        var ranges: [Range<Int>] = []
        var ofRecord: [UInt16] = []
        ofRecord.reserveCapacity(batch.records.count)
        batch.payload.withUnsafeBytes { bytes in
            var last = -1
            for record in batch.records {
                let topic = bytes[record.topic]
                // Records of a batch mostly share a topic: the previous record's first.
                if last >= 0 && bytes[ranges[last]].elementsEqual(topic) {
                    ofRecord.append(UInt16(last))
                    continue
                }
                if let found = ranges.firstIndex(where: { bytes[$0].elementsEqual(topic) }) {
                    last = found
                } else if names.count < Int(UInt16.max) {
                    names.append(String(decoding: topic, as: UTF8.self))
                    ranges.append(record.topic)
                    last = names.count - 1
                }
                ofRecord.append(UInt16(last))
            }
        }
        self.names = names
        self.ofRecord = ofRecord
    }

    /// The topic name of record `index`.
    public func name(ofRecord index: Int) -> String { names[Int(ofRecord[index])] }
}
