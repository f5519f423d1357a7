import Dispatch
import Foundation
import SluiceNetwork
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Records what a connection reports; echoes bytes back when asked to.
final class RecordingHandler: ConnectionHandler, @unchecked Sendable {
    // `@unchecked Sendable`: the counters are atomics; `echo` is fixed at init.
    let received = Atomic<Int>(0)
    let resumed = Atomic<Int>(0)
    let deadlines = Atomic<Int>(0)
    let closed = Atomic<Int>(0)
    let echo: Bool

    init(echo: Bool = false) { self.echo = echo }

    func connection(_ connection: Connection, received bytes: UnsafeRawBufferPointer) {
        received.add(bytes.count, ordering: .relaxed)
        if echo { connection.send { $0.append(contentsOf: bytes) } }
    }
    func connectionResumed(_ connection: Connection) { resumed.add(1, ordering: .relaxed) }
    func connectionDeadlinePassed(_ connection: Connection) {
        deadlines.add(1, ordering: .relaxed)
        connection.deadline = .max
    }
    func connectionClosed(_ connection: Connection) { closed.add(1, ordering: .relaxed) }
}

/// Waits until `condition` holds, failing after `seconds`.
func eventually(_ what: String, within seconds: Double = 5, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        guard Date() < deadline else { throw TestError("timed out waiting until \(what)") }
        usleep(1_000)
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A non-blocking socket pair: the connection's end and the test's end.
func socketPair() -> (server: Int32, client: Int32) {
    var fds: [Int32] = [0, 0]
    precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    return (fds[0], fds[1])
}

@Suite("Connection I/O on an event loop", .serialized, .timeLimit(.minutes(1)))
struct ConnectionTests {
    let group: EventLoopGroup

    init() throws { group = try EventLoopGroup(count: 2) }

    @Test func echoesAndClosesAfterFlushing() throws {
        let (server, client) = socketPair()
        defer { close(client) }
        let handler = RecordingHandler(echo: true)
        let connection = Connection(descriptor: server, loop: group.nextLoop())
        connection.loop.sync {
            connection.handler = handler
            connection.start()
        }
        let message = Array("hello".utf8)
        #expect(write(client, message, message.count) == message.count)
        var reply = [UInt8](repeating: 0, count: 16)
        let count = read(client, &reply, reply.count)
        #expect(Array(reply.prefix(max(count, 0))) == message)
        connection.loop.sync {
            connection.send { $0.append(contentsOf: Array("bye".utf8)) }
            connection.closeAfterFlush()
        }
        #expect(read(client, &reply, reply.count) == 3)
        #expect(read(client, &reply, reply.count) == 0, "EOF after the last bytes")
        try eventually("the handler hears of the close") { handler.closed.load(ordering: .relaxed) == 1 }
        group.shutdown()
    }

    @Test func pausedConnectionsReadNothingUntilResumed() throws {
        let (server, client) = socketPair()
        let handler = RecordingHandler()
        let connection = Connection(descriptor: server, loop: group.nextLoop())
        connection.loop.sync {
            connection.handler = handler
            connection.start()
            connection.wantsToRead = false
        }
        #expect(write(client, "abc", 3) == 3)
        // A paused connection is not woken again and again: nothing arrives while paused.
        usleep(100_000)
        #expect(handler.received.load(ordering: .relaxed) == 0)
        connection.loop.sync { connection.wantsToRead = true }
        try eventually("the bytes arrive after resuming") { handler.received.load(ordering: .relaxed) == 3 }
        #expect(handler.resumed.load(ordering: .relaxed) == 1)
        close(client)
        try eventually("the hang-up closes the connection") { handler.closed.load(ordering: .relaxed) == 1 }
        group.shutdown()
    }

    @Test func deadlinesAreCheckedByTheLoopTick() throws {
        let (server, client) = socketPair()
        defer { close(client) }
        let handler = RecordingHandler()
        let connection = Connection(descriptor: server, loop: group.nextLoop())
        connection.loop.sync {
            connection.handler = handler
            connection.deadline = 0
            connection.start()
        }
        try eventually("the deadline is reported") { handler.deadlines.load(ordering: .relaxed) == 1 }
        connection.loop.sync { connection.close() }
        group.shutdown()
    }

    @Test func manyHangUpsEachCloseOnce() throws {
        let handler = RecordingHandler()
        let pairs = 20_000
        for _ in 0..<pairs {
            let (server, client) = socketPair()
            let connection = Connection(descriptor: server, loop: group.nextLoop())
            connection.loop.async {
                connection.handler = handler
                connection.start()
            }
            _ = write(client, "x", 1)
            close(client)
        }
        try eventually("every connection saw its peer hang up", within: 30) {
            handler.closed.load(ordering: .relaxed) == pairs
        }
        #expect(handler.received.load(ordering: .relaxed) == pairs)
        group.shutdown()
    }
}
