import Foundation
import SluiceSystem
import Synchronization

/// The spool's append-only log: records spooled in routing order, in segment files.
///
/// A group commit appends its records with one write and one `fdatasync`, so buffering
/// during an outage costs a copy per record instead of a B-tree insert (see docs/spool.md).
/// Records leave the log when they are delivered, or when the drain passes them by (a held
/// key, a rejected record) and they move to the table, which keeps per-record state. A
/// segment is deleted once none of its records is live. The index (id, offset, size,
/// topic, live) is kept in memory, about 20 bytes per record.
///
/// Only the gateway that owns the spool (`writable`) appends, repairs a torn tail and
/// deletes segments; operator commands read it.
final class SpoolLog: Sendable {
    let directory: String
    private let writable: Bool
    private let fileMode: mode_t
    private let segmentBytes: Int
    private let state: Mutex<State>

    struct State {
        var segments: [LogSegment] = []
        var lastID: Int64 = 0
        var topicNames: [String] = []
        var topicIndex: [String: UInt16] = [:]
        /// Live records per topic index.
        var pending: [Int] = []
        var bytes: Int64 = 0

        mutating func topic(_ name: String) -> UInt16 {
            if let index = topicIndex[name] { return index }
            let index = UInt16(topicNames.count)
            topicNames.append(name)
            topicIndex[name] = index
            pending.append(0)
            return index
        }
    }

    /// Where a live record lies.
    struct Location {
        var segment: LogSegment
        var offset: Int
        var length: Int
    }

    /// Opens the log in `directory`, creating it if `writable`.
    ///
    /// Records with an id at or below `floor`, and those `isInTable` claims, left the log
    /// before the last run ended. A tail that does not check out (a write cut short by a
    /// crash, never acknowledged) is cut off when `writable`; `repairs` says what was cut.
    init(
        directory: String, writable: Bool, fileMode: mode_t, segmentBytes: Int, floor: Int64,
        isInTable: (Int64) -> Bool
    ) throws(SpoolError) {
        self.directory = directory
        self.writable = writable
        self.fileMode = fileMode
        self.segmentBytes = segmentBytes
        if writable {
            if mkdir(directory, fileMode | ((fileMode & 0o444) >> 2)) != 0 && errno != EEXIST {
                throw SpoolError("cannot create \(directory): \(errnoText())")
            }
        }
        var state = State()
        var repairs: [String] = []
        var previous: Int64 = 0
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".seg") }.sorted()
        for name in names {
            guard let firstID = Int64(name.dropLast(4)) else { continue }
            let path = directory + "/" + name
            let descriptor = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
            guard descriptor >= 0 else {
                if errno == ENOENT { continue }  // the gateway dropped it meanwhile
                throw SpoolError("cannot open \(path): \(errnoText())")
            }
            let segment = LogSegment(firstID: firstID, path: path, descriptor: descriptor)
            let contents = try segment.readAll()
            guard let layout = contents.withUnsafeBytes({ SpoolCodec.segmentLayout($0) }) else {
                throw SpoolError(
                    "\(path) was written by a newer Sluice (segment version \(contents[7])); this one cannot read it")
            }
            let valid = contents.withUnsafeBytes { bytes in
                segment.index(bytes, layout: layout, after: previous, floor: floor, isInTable: isInTable, state: &state)
            }
            if valid < contents.count {
                repairs.append("\(path): \(contents.count - valid) bytes after offset \(valid) did not check out")
                if writable && ftruncate(descriptor, off_t(valid)) != 0 {
                    throw SpoolError("cannot cut \(path) at \(valid): \(errnoText())")
                }
            }
            previous = max(previous, segment.ids.last ?? 0)
            state.segments.append(segment)
        }
        state.lastID = max(previous, floor)
        self.repairs = repairs
        self.state = Mutex(state)
        if writable { dropDeadSegments() }
    }

    /// What opening cut off (torn tails), for the owner to log.
    let repairs: [String]

    /// The highest id ever appended (or the floor it was opened with).
    var lastID: Int64 { state.withLock { $0.lastID } }

    /// Bytes of the live records (what they count against the spool's cap).
    var bytes: Int64 { state.withLock { $0.bytes } }

    /// Live records per topic.
    func pendingByTopic() -> [String: Int] {
        state.withLock { state in
            var perTopic: [String: Int] = [:]
            for (index, count) in state.pending.enumerated() where count > 0 {
                perTopic[state.topicNames[index]] = count
            }
            return perTopic
        }
    }

    /// Every id at or below this has left the log.
    var floor: Int64 {
        state.withLock { state in
            for segment in state.segments where segment.liveCount > 0 { return segment.ids[segment.floor] - 1 }
            return state.lastID
        }
    }

    // MARK: appending

    /// Appends batches (ids ascending, above `lastID`) and syncs them to disk; the writer's
    /// thread only.
    func append(_ batches: [SpoolBatch]) throws(SpoolError) {
        guard writable, let first = batches.first?.ids.first else { return }
        let active = try activeSegment(startingAt: first)
        let base = active.length
        // A segment's first write starts with its header.
        var bytes: [UInt8] = base == 0 ? SpoolCodec.segmentHeader : []
        bytes.reserveCapacity(bytes.count + batches.reduce(0) { $0 + $1.bytes.count })
        for batch in batches { bytes += batch.bytes }
        try active.write(bytes, at: base)
        state.withLock { state in
            var offset = base + (base == 0 ? SpoolCodec.segmentHeader.count : 0)
            for batch in batches {
                var topicName = ""
                var topic: UInt16 = 0
                for (index, id) in batch.ids.enumerated() {
                    if index == 0 || batch.topics[index] != topicName {
                        topicName = batch.topics[index]
                        topic = state.topic(topicName)
                    }
                    active.add(id: id, offset: offset + batch.offsets[index], size: batch.sizes[index], topic: topic)
                    state.pending[Int(topic)] += 1
                    state.bytes += Int64(batch.sizes[index])
                }
                offset += batch.bytes.count
                state.lastID = batch.ids[batch.ids.count - 1]
            }
            active.length = base + bytes.count
        }
    }

    /// The segment to append to: the last one, or a new one once it is full or when an older
    /// Sluice wrote it (a segment holds records of one version).
    private func activeSegment(startingAt firstID: Int64) throws(SpoolError) -> LogSegment {
        if let last = state.withLock({ $0.segments.last }), last.length < segmentBytes,
            last.version == SpoolCodec.version
        {
            return last
        }
        let path = directory + "/" + String(format: "%020lld.seg", firstID)
        let descriptor = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, fileMode)
        guard descriptor >= 0 else { throw SpoolError("cannot create \(path): \(errnoText())") }
        _ = fchmod(descriptor, fileMode)
        // The new file's name must survive a crash as much as its contents.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        let segment = LogSegment(firstID: firstID, path: path, descriptor: descriptor)
        state.withLock { $0.segments.append(segment) }
        return segment
    }

    // MARK: reading

    /// Where the live records with an id above `cursor` lie, up to `limit`, in id order.
    func locations(after cursor: Int64, limit: Int) -> [Location] {
        state.withLock { state in
            var found: [Location] = []
            for segment in state.segments where segment.liveCount > 0 && segment.ids[segment.ids.count - 1] > cursor {
                var index = max(segment.floor, segment.firstIndex(after: cursor))
                while index < segment.ids.count && found.count < limit {
                    if segment.live[index] { found.append(segment.location(of: index)) }
                    index += 1
                }
                if found.count == limit { break }
            }
            return found
        }
    }

    /// Calls `body` with a buffer and the fields of each record of `locations` in it, reading
    /// runs of neighbouring records with one `pread`.
    func read(
        _ locations: [Location], _ body: (UnsafeRawBufferPointer, SpoolCodec.Fields) -> Void
    ) throws(SpoolError) {
        var first = 0
        while first < locations.count {
            var last = first
            while last + 1 < locations.count && locations[last + 1].segment === locations[first].segment
                && locations[last + 1].offset - locations[first].offset < 4 << 20
            {
                last += 1
            }
            let start = locations[first].offset
            let end = locations[last].offset + locations[last].length
            let buffer = try locations[first].segment.read(from: start, count: end - start)
            buffer.withUnsafeBytes { bytes in
                for location in locations[first...last] {
                    body(
                        bytes,
                        SpoolCodec.fields(in: bytes, at: location.offset - start, version: location.segment.version))
                }
            }
            first = last + 1
        }
    }

    /// The live record with id `id`, or nil when it is not in the log.
    func record(id: Int64) throws(SpoolError) -> StoredRecord? {
        let location = state.withLock { state -> Location? in
            guard let (segment, index) = Self.find(id, in: state.segments), segment.live[index] else { return nil }
            return segment.location(of: index)
        }
        guard let location else { return nil }
        var found: StoredRecord?
        try read([location]) { bytes, fields in found = SpoolCodec.storedRecord(in: bytes, fields) }
        return found
    }

    /// Whether the record with id `id` is live in the log.
    func contains(id: Int64) -> Bool {
        state.withLock { state in
            guard let (segment, index) = Self.find(id, in: state.segments) else { return false }
            return segment.live[index]
        }
    }

    /// When the oldest live record was spooled (ms since the epoch).
    func oldestCreatedAt() -> Int64? {
        let location = state.withLock { state -> Location? in
            for segment in state.segments where segment.liveCount > 0 { return segment.location(of: segment.floor) }
            return nil
        }
        guard let location else { return nil }
        var stamp: Int64 = 0
        let count = withUnsafeMutableBytes(of: &stamp) { pointer in
            pread(
                location.segment.descriptor, pointer.baseAddress, 8,
                off_t(location.offset + SpoolCodec.createdAtOffset(location.segment.version)))
        }
        return count == 8 ? Int64(littleEndian: stamp) : nil
    }

    // MARK: leaving

    /// Marks records as gone (delivered, or moved to the table); returns the ids that were
    /// not live in the log, and the topics and bytes of those that were.
    func markGone(_ ids: [Int64]) -> (notInLog: [Int64], perTopic: [String: Int], bytes: Int64) {
        state.withLock { state in
            var notInLog: [Int64] = []
            var perTopic: [Int: Int] = [:]
            var bytes: Int64 = 0
            var touched: Set<ObjectIdentifier> = []
            for id in ids {
                guard let (segment, index) = Self.find(id, in: state.segments), segment.live[index] else {
                    notInLog.append(id)
                    continue
                }
                segment.live[index] = false
                segment.liveCount -= 1
                perTopic[Int(segment.topics[index]), default: 0] += 1
                bytes += Int64(segment.sizes[index])
                touched.insert(ObjectIdentifier(segment))
            }
            for segment in state.segments where touched.contains(ObjectIdentifier(segment)) {
                while segment.floor < segment.ids.count && !segment.live[segment.floor] { segment.floor += 1 }
            }
            var named: [String: Int] = [:]
            for (topic, count) in perTopic {
                state.pending[topic] -= count
                named[state.topicNames[topic]] = count
            }
            state.bytes -= bytes
            return (notInLog, named, bytes)
        }
    }

    /// Deletes the files of segments with no live record, except the one being appended to.
    func dropDeadSegments() {
        guard writable else { return }
        let dead = state.withLock { state -> [LogSegment] in
            guard let last = state.segments.last else { return [] }
            let dead = state.segments.filter { $0.liveCount == 0 && $0 !== last }
            state.segments.removeAll { $0.liveCount == 0 && $0 !== last }
            return dead
        }
        for segment in dead { unlink(segment.path) }
    }

    /// The segment and index of `id`, by binary search over segments, then ids.
    private static func find(_ id: Int64, in segments: [LogSegment]) -> (LogSegment, Int)? {
        var low = 0
        var high = segments.count
        while low < high {
            let middle = (low + high) / 2
            if segments[middle].firstID <= id { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let segment = segments[low - 1]
        let index = segment.firstIndex(after: id - 1)
        guard index < segment.ids.count, segment.ids[index] == id else { return nil }
        return (segment, index)
    }
}
