import Foundation
import Synchronization

/// A fixed pool of event loops, about one per core, that every connection is spread over.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let next = Atomic<Int>(0)

    /// Starts `count` loops (default: one per core, at most 4) and their reactor threads.
    public init(count: Int = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4)) throws(NetworkError) {
        var loops: [EventLoop] = []
        for index in 0..<max(count, 1) { loops.append(try EventLoop(index: index)) }
        self.loops = loops
    }

    /// The loop for the next connection, round robin.
    public func nextLoop() -> EventLoop {
        loops[next.add(1, ordering: .relaxed).oldValue % loops.count]
    }

    /// Stops every loop's reactor thread; their connections must be closed.
    public func shutdown() {
        for loop in loops { loop.shutdown() }
    }
}
