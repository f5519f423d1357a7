import Synchronization

/// Keys whose head record a reachable broker rejected: their records wait in the spool
/// until the head's next retry. Few by nature (an outage holds none), so a small map.
final class HeldKeys: Sendable {
    /// A held key: the rejected record's id and when it may be retried (ms, the gateway clock).
    struct Key {
        var head: Int64
        var retryAt: Int64
    }

    private let keys = Mutex<[UInt64: Key]>([:])

    /// Holds the key with hash `hash` behind record `head` until `retryAt`.
    func hold(_ hash: UInt64, head: Int64, until retryAt: Int64) {
        keys.withLock { $0[hash] = Key(head: head, retryAt: retryAt) }
    }

    /// Holds a key only if it is not held already (loading rejected records, oldest first).
    func holdIfFree(_ hash: UInt64, head: Int64, until retryAt: Int64) {
        keys.withLock { keys in
            if keys[hash] == nil { keys[hash] = Key(head: head, retryAt: retryAt) }
        }
    }

    /// Releases the key (its head was delivered or dead-lettered).
    func release(_ hash: UInt64) {
        keys.withLock { _ = $0.removeValue(forKey: hash) }
    }

    /// Releases each key whose head is among `delivered` (hash and id pairs).
    func release(delivered: [(hash: UInt64, id: Int64)]) {
        keys.withLock { keys in
            guard !keys.isEmpty else { return }
            for (hash, id) in delivered where keys[hash]?.head == id { keys[hash] = nil }
        }
    }

    var isEmpty: Bool { keys.withLock { $0.isEmpty } }

    /// Runs `body` with the map locked (the retry worker's filter over a chunk).
    func withKeys<T>(_ body: ([UInt64: Key]) -> T) -> T {
        keys.withLock { body($0) }
    }
}
