import Foundation
import SluiceSystem

/// One segment file of the spool's log and the index of its records.
///
/// The index fields are read and changed only under `SpoolLog`'s lock; `descriptor` and
/// `path` never change, so a reader can `pread` outside the lock (the file stays readable
/// through the descriptor even after it is deleted).
final class LogSegment: @unchecked Sendable {
    /// The id its file is named after; every record in it has this id or a higher one.
    let firstID: Int64
    let path: String
    let descriptor: Int32
    private(set) var ids: [Int64] = []
    private var offsets: [UInt32] = []
    private(set) var sizes: [UInt32] = []
    /// Index into the log's topic names.
    private(set) var topics: [UInt16] = []
    var live: [Bool] = []
    var liveCount = 0
    /// Bytes of whole records in the file.
    var length = 0
    /// The index of the first record that may still be live.
    var floor = 0
    /// The codec version of its records: the current one, unless an older Sluice wrote the file.
    private(set) var version = SpoolCodec.version

    init(firstID: Int64, path: String, descriptor: Int32) {
        self.firstID = firstID
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func add(id: Int64, offset: Int, size: Int, topic: UInt16, live isLive: Bool = true) {
        ids.append(id)
        offsets.append(UInt32(offset))
        sizes.append(UInt32(truncatingIfNeeded: size))
        topics.append(topic)
        live.append(isLive)
        if isLive { liveCount += 1 }
    }

    func location(of index: Int) -> SpoolLog.Location {
        let start = Int(offsets[index])
        let end = index + 1 < offsets.count ? Int(offsets[index + 1]) : length
        return SpoolLog.Location(segment: self, offset: start, length: end - start)
    }

    /// The index of the first record with an id above `id`.
    func firstIndex(after id: Int64) -> Int {
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] <= id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Indexes the records of `bytes` (the whole file, laid out as `layout` says) and returns
    /// how many bytes hold its header and whole, valid records in ascending id order above `previous`.
    func index(
        _ bytes: UnsafeRawBufferPointer, layout: (version: UInt8, recordsStart: Int), after previous: Int64,
        floor: Int64, isInTable: (Int64) -> Bool, state: inout SpoolLog.State
    ) -> Int {
        version = layout.version
        var offset = layout.recordsStart
        var lastID = previous
        while let length = SpoolCodec.validLength(UnsafeRawBufferPointer(rebasing: bytes[offset...]), version: version)
        {
            let fields = SpoolCodec.fields(in: bytes, at: offset, version: version)
            guard fields.id > lastID else { break }
            let topic = state.topic(String(decoding: bytes[fields.topic], as: UTF8.self))
            let isLive = fields.id > floor && !isInTable(fields.id)
            add(id: fields.id, offset: offset, size: fields.size, topic: topic, live: isLive)
            if isLive {
                state.pending[Int(topic)] += 1
                state.bytes += Int64(fields.size)
            }
            lastID = fields.id
            offset += length
        }
        // Nothing valid (a first write cut short): the next write starts the file over, with a header.
        if offset == 0 { version = SpoolCodec.version }
        length = offset
        while self.floor < ids.count && !live[self.floor] { self.floor += 1 }
        return offset
    }

    // MARK: file I/O

    /// The whole file.
    func readAll() throws(SpoolError) -> [UInt8] {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("cannot stat") }
        return try read(from: 0, count: Int(status.st_size))
    }

    /// `count` bytes at `offset`.
    func read(from offset: Int, count: Int) throws(SpoolError) -> [UInt8] {
        guard count > 0 else { return [] }
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { pointer, initialized in
            var total = 0
            while total < count {
                let n = pread(descriptor, pointer.baseAddress! + total, count - total, off_t(offset + total))
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    break
                }
                total += n
            }
            initialized = total
        }
        guard bytes.count == count else { throw failure("short read at \(offset) of") }
        return bytes
    }

    /// Writes `bytes` at `offset` and syncs them to disk; on failure the file is cut back to `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws(SpoolError) {
        var total = 0
        let written = bytes.withUnsafeBytes { pointer -> Bool in
            while total < pointer.count {
                let n = pwrite(descriptor, pointer.baseAddress! + total, pointer.count - total, off_t(offset + total))
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                total += n
            }
            return true
        }
        guard written, fdatasync(descriptor) == 0 else {
            let error = failure("cannot write")
            _ = ftruncate(descriptor, off_t(offset))
            throw error
        }
    }

    private func failure(_ what: String) -> SpoolError {
        SpoolError("\(what) \(path): \(errnoText())")
    }
}
