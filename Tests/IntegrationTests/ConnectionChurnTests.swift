import Dispatch
import Foundation
import SluiceProtocol
import SluiceSystem
import SluiceTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Clients that connect per request, and many that stay idle, against the real binary.
@Suite("Connections under churn", .serialized, .timeLimit(.minutes(5)))
struct ConnectionChurnTests {
    /// The bound for threads, whatever the connections.
    static let maxThreads = 32

    @Test func connectClosePairsFromFourThreadsKeepThreadsAndMemoryBounded() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers)
        let pairs = Int(ProcessInfo.processInfo.environment["SLUICE_SOAK_PAIRS"] ?? "") ?? 200_000
        let sampler = ThreadSampler(gateway)

        // A warm-up, so the allocator's steady state is the baseline.
        #expect(churn(gateway.socketPath, pairs: 20_000, threads: 4) == 0)
        let before = gateway.residentKilobytes
        let failed = churn(gateway.socketPath, pairs: pairs, threads: 4)
        #expect(failed == 0, "\(failed) of \(pairs) connects failed")
        let peakThreads = sampler.stop()

        #expect(gateway.process.isRunning, "the gateway died under churn: \(gateway.log.suffix(2_000))")
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        try client.send(Frame(.ping, requestID: 7, payload: [1]))
        #expect(try client.read() == .pong([1]))
        let growth = gateway.residentKilobytes - before
        #expect(peakThreads <= Self.maxThreads, "the gateway ran \(peakThreads) threads")
        #expect(growth <= 30 * 1024, "RSS grew by \(growth) KiB over \(pairs) connect/close pairs")
        print("\(pairs) connect/close pairs: RSS +\(growth) KiB, at most \(peakThreads) threads")
    }

    @Test func aThousandIdleConnectionsCostLittle() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers)
        let before = gateway.residentKilobytes
        var clients: [RawClient] = []
        for _ in 0..<1_000 { clients.append(try RawClient.handshaken(socketPath: gateway.socketPath)) }
        let growth = gateway.residentKilobytes - before
        #expect(gateway.threads <= Self.maxThreads, "\(gateway.threads) threads for 1,000 idle connections")
        #expect(growth <= 20 * 1024, "RSS grew by \(growth) KiB for 1,000 idle connections")
        // Before its first PUBLISH a connection costs at most 8 KiB.
        #expect(growth <= 8 * 1_000, "\(growth * 1024 / 1_000) bytes per idle connection")
        // Every one of them is still served.
        for (index, client) in clients.enumerated() where index % 100 == 0 {
            try client.send(Frame(.ping, requestID: 9, payload: []))
            #expect(try client.read() == .pong([]))
        }
        print(
            "1,000 idle connections: RSS +\(growth) KiB (\(growth * 1024 / 1_000) bytes each), \(gateway.threads) threads"
        )
    }

    @Test func hostileMixKeepsPeakMemoryBounded() throws {
        let broker = try DevBroker()
        let gateway = try GatewayProcess(brokers: broker.bootstrapServers)
        let sampler = ThreadSampler(gateway)
        let socketPath = gateway.socketPath
        let hello = Hello(clientName: "hostile").frame(requestID: 1).encoded()
        let until = Date().addingTimeInterval(8)
        DispatchQueue.concurrentPerform(iterations: 6) { role in
            var generator = SystemRandomNumberGenerator()
            var dribblers: [Int32] = []
            while Date() < until {
                switch role {
                case 0, 1:  // garbage, after a HELLO or instead of one
                    let descriptor = connectUnixSocket(socketPath)
                    guard descriptor >= 0 else { continue }
                    var bytes = role == 0 ? hello : []
                    bytes += (0..<Int.random(in: 1...60_000, using: &generator)).map { _ in
                        UInt8.random(in: 0...255, using: &generator)
                    }
                    _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    close(descriptor)
                case 2, 3:  // connect storms
                    let storm = (0..<200).map { _ in connectUnixSocket(socketPath) }
                    for descriptor in storm where descriptor >= 0 { close(descriptor) }
                case 4:  // dribblers: a HELLO, then two bytes now and then, up to 300 at once
                    let descriptor = connectUnixSocket(socketPath)
                    if descriptor >= 0 {
                        _ = hello.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        dribblers.append(descriptor)
                    }
                    for descriptor in dribblers.suffix(50) { _ = send(descriptor, "SL", 2, Int32(MSG_NOSIGNAL)) }
                    if dribblers.count > 300 {
                        for descriptor in dribblers.prefix(150) { close(descriptor) }
                        dribblers.removeFirst(150)
                    }
                    usleep(5_000)
                default:  // a frame that announces 4 MiB and sends 1 MiB of it
                    let descriptor = connectUnixSocket(socketPath)
                    guard descriptor >= 0 else { continue }
                    var bytes = hello
                    FrameHeader(type: .publish, requestID: 2, payloadLength: 4 * 1024 * 1024 - 1).encode(into: &bytes)
                    bytes += [UInt8](repeating: 0x41, count: 1024 * 1024)
                    _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    close(descriptor)
                }
            }
            for descriptor in dribblers { close(descriptor) }
        }
        let peakThreads = sampler.stop()
        #expect(gateway.process.isRunning, "the gateway died under the hostile mix: \(gateway.log.suffix(2_000))")
        #expect(sampler.peakResidentKilobytes <= 256 * 1024, "peak RSS \(sampler.peakResidentKilobytes) KiB")
        #expect(peakThreads <= Self.maxThreads, "the gateway ran \(peakThreads) threads")
        _ = try RawClient.handshaken(socketPath: socketPath)
        print("hostile mix for 8 s: peak RSS \(sampler.peakResidentKilobytes) KiB, at most \(peakThreads) threads")
    }

    /// Connects and closes `pairs` times from `threads` threads; returns how many connects failed.
    private func churn(_ socketPath: String, pairs: Int, threads: Int) -> Int {
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for _ in 0..<(pairs / threads + (thread < pairs % threads ? 1 : 0)) {
                let descriptor = connectUnixSocket(socketPath)
                if descriptor < 0 {
                    failures.add(1, ordering: .relaxed)
                } else {
                    close(descriptor)
                }
            }
        }
        return failures.load(ordering: .relaxed)
    }
}

/// Samples a process's thread count and RSS every 20 ms until stopped; `stop` returns the peak
/// thread count.
final class ThreadSampler: @unchecked Sendable {
    // `@unchecked Sendable`: `peak` and `running` are behind `lock`.
    private let lock = NSLock()
    private var peak = 0
    private var peakResident = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ gateway: GatewayProcess) {
        let pid = gateway.pid
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let threads = Self.field("Threads", pid)
                let resident = Self.field("VmRSS", pid)
                lock.withLock {
                    peak = max(peak, threads)
                    peakResident = max(peakResident, resident)
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            done.signal()
        }
    }

    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { peak }
    }

    /// The largest RSS seen, in KiB.
    var peakResidentKilobytes: Int { lock.withLock { peakResident } }

    private static func field(_ name: String, _ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") })
        else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
    }
}
