import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The real `sluice serve` binary on a temporary socket, read through /proc while it runs.
public final class GatewayProcess {
    public let process = Process()
    public let directory: String
    public let socketPath: String
    public var pid: Int32 { process.processIdentifier }

    /// Starts `sluice serve` (optionally under `prefix`, e.g. `prlimit`) and waits until it
    /// completes a handshake; `logLevel` nil leaves the level to the file.
    public init(
        brokers: String, configYAML: String? = nil, prefix: [String] = [], logLevel: String? = "error",
        arguments extra: [String] = [], environment: [String: String] = [:], waitUntilServing: Bool = true
    ) throws {
        directory = try temporaryDirectory()
        socketPath = directory + "/s.sock"
        var arguments = [
            "serve", "--socket", socketPath, "--brokers", brokers, "--spool", directory + "/spool.db",
        ]
        if let logLevel { arguments += ["--log-level", logLevel] }
        if let configYAML {
            try configYAML.write(toFile: directory + "/sluice.yaml", atomically: true, encoding: .utf8)
            arguments += ["--config", directory + "/sluice.yaml"]
        }
        arguments += extra
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let sluice = try sluiceExecutable()
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: sluice)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + [sluice] + arguments
        }
        let log = FileManager.default.createFile(atPath: directory + "/sluice.log", contents: nil)
        precondition(log)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/sluice.log"))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        if waitUntilServing {
            try waitUntil("the gateway serves \(socketPath)", timeout: 15) {
                guard process.isRunning else { throw TestFailure("sluice serve exited: \(self.log)") }
                return (try? RawClient.handshaken(socketPath: socketPath)) != nil
            }
        }
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What the gateway logged so far.
    public var log: String { (try? String(contentsOfFile: directory + "/sluice.log", encoding: .utf8)) ?? "" }

    /// A numeric field of /proc/PID/status (`Threads`, `VmRSS` in kB, …), or -1.
    public func status(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return -1 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
    }

    public var threads: Int { status("Threads") }
    public var residentKilobytes: Int { status("VmRSS") }

    /// User plus system CPU time in clock ticks, from /proc/PID/stat.
    public var cpuTicks: Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return -1 }
        let fields = text[text.index(after: end)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    /// Open descriptors of the gateway.
    public var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Sends `signal` and waits for the process to exit; returns its status.
    @discardableResult
    public func stop(with signal: Int32 = SIGTERM, timeout: Double = 30) throws -> Int32 {
        kill(pid, signal)
        try waitUntil("sluice serve exits after signal \(signal)", timeout: timeout) { !process.isRunning }
        return process.terminationStatus
    }
}
