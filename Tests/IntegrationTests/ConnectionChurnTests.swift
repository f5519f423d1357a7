import Dispatch
import Foundation
import SluiceProtocol
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

/// Samples a process's thread count every 50 ms until stopped; `stop` returns the peak.
final class ThreadSampler: @unchecked Sendable {
    // `@unchecked Sendable`: `peak` and `running` are behind `lock`.
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ gateway: GatewayProcess) {
        let pid = gateway.pid
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let threads = Self.threads(pid)
                lock.withLock { peak = max(peak, threads) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            done.signal()
        }
    }

    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { peak }
    }

    private static func threads(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") })
        else { return 0 }
        return Int(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
    }
}
