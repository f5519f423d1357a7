import Foundation
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice serve` run from a configuration file in its own directory (socket, spool, log),
/// with `/healthz` on a loopback port, for the broker-security tests.
///
/// `applyFixedConfiguration` stands for the operator's fix: it rewrites the file, then has the
/// running gateway reload it (`sluice reload`), or restarts the gateway on it (the spool stays).
final class SecuredGateway {
    let directory: String
    let socketPath: String
    let metricsPort: Int
    let environment: [String: String]
    private var process: Process?
    private var configPath: String { directory + "/sluice.yaml" }
    private var logPath: String { directory + "/sluice.log" }

    /// Starts the gateway on a file made of `kafka` (the lines of its `kafka:` section, the
    /// brokers included) and settings that make recovery quick; `environment` is added to its own.
    init(kafka: String, environment: [String: String] = [:]) throws {
        directory = try temporaryDirectory()
        socketPath = directory + "/s.sock"
        metricsPort = try freeTCPPort()
        self.environment = environment
        try write(kafka: kafka)
        try start()
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// How the gateway takes a changed file.
    enum Fix {
        /// `sluice reload`, which must report the file applied.
        case reload
        /// SIGTERM, then `sluice serve` again on the same spool.
        case restart
    }

    /// The operator's fix: the file now holds `kafka`, and the gateway runs on it.
    func applyFixedConfiguration(kafka: String, by fix: Fix) throws {
        try write(kafka: kafka)
        switch fix {
        case .reload:
            let result = try run(try sluiceExecutable(), ["reload", "--socket", socketPath])
            guard result.status == 0 else { throw TestFailure("sluice reload failed: \(result.output)") }
        case .restart:
            try stop()
            try start()
        }
    }

    /// What the gateway logged, over all its runs.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The `/healthz` answer: status and body.
    func health() throws -> (status: Int, body: String) { try httpGet(port: UInt16(metricsPort), path: "/healthz") }

    /// The whole STATS document, and its text.
    func stats() throws -> (document: [String: Any], text: String) { try statsDocument(socketPath: socketPath) }

    func circuitState() throws -> String? {
        (try stats().document["publisher"] as? [String: Any])?["circuitBreakerState"] as? String
    }

    func pending() throws -> Int? {
        (try stats().document["retry"] as? [String: Any])?["pending"] as? Int
    }

    /// Stops the gateway with SIGTERM; it must exit 0.
    func stop() throws {
        guard let process else { return }
        kill(process.processIdentifier, SIGTERM)
        try waitUntil("the gateway exits after SIGTERM", timeout: 60) { !process.isRunning }
        guard process.terminationStatus == 0 else {
            throw TestFailure("sluice serve exited \(process.terminationStatus): \(log.suffix(2_000))")
        }
        self.process = nil
    }

    private func write(kafka: String) throws {
        let yaml = """
            metrics: { listen: "127.0.0.1:\(metricsPort)" }
            kafka:
              delivery-timeout: 3s
              reconnect.backoff.max.ms: 500
              retry: { interval: 1s }
              circuit-breaker:
                wait-duration-in-open-state: 500ms
                minimum-number-of-calls: 5
                permitted-calls-in-half-open-state: 5
            \(kafka.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    private func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try sluiceExecutable())
        process.arguments = [
            "serve", "--socket", socketPath, "--spool", directory + "/spool.db", "--config", configPath,
            "--log-level", "info",
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        output.seekToEndOfFile()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        try waitUntil("the gateway serves \(socketPath)", timeout: 15) {
            guard process.isRunning else { throw TestFailure("sluice serve exited: \(self.log.suffix(2_000))") }
            return (try? RawClient.handshaken(socketPath: socketPath)) != nil
        }
    }
}

/// Reads `count` records of `topic` through a consumer with `properties` (TLS settings).
func consumeSecurely(topic: String, brokers: String, properties: [String: String], count: Int) throws
    -> [ConsumedRecord]
{
    let consumer = try KafkaConsumer(bootstrapServers: brokers, properties: properties)
    try consumer.assign(topic: topic, partitions: try consumer.partitionCount(topic: topic))
    var records: [ConsumedRecord] = []
    let deadline = Date().addingTimeInterval(60)
    while records.count < count {
        guard Date() < deadline else { throw TestFailure("read \(records.count) of \(count) records of \(topic)") }
        if let record = try consumer.poll(timeoutMilliseconds: 200) { records.append(record) }
    }
    while let record = try consumer.poll(timeoutMilliseconds: 500) { records.append(record) }
    return records
}
