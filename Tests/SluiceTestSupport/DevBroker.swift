import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The repository's root, found from this file's path.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A Tansu dev broker on a free loopback port, in memory: `restart()` gives an empty broker.
public final class DevBroker: @unchecked Sendable {
    // `@unchecked Sendable`: `process` is only touched by the test that owns the broker.
    public let port: Int
    private var process: Process?
    private let log: URL
    /// The address the broker tells clients to use: its own, or a TLS front's (`SecureBroker`).
    private let advertisedURL: String
    /// More `tansu broker` arguments, such as `--authentication`.
    private let extraArguments: [String]

    public var bootstrapServers: String { "127.0.0.1:\(port)" }
    private var url: String { "tcp://127.0.0.1:\(port)" }
    static let tansu = repositoryRoot.appendingPathComponent(".deps/bin/tansu").path

    /// Starts a broker and waits until it accepts connections; it advertises `advertisedPort`
    /// (default: its own) and runs with `arguments` added.
    public init(advertisedPort: Int? = nil, arguments: [String] = []) throws {
        port = try freeTCPPort()
        advertisedURL = "tcp://127.0.0.1:\(advertisedPort ?? port)"
        extraArguments = arguments
        log = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tansu-\(port).log")
        try start()
    }

    deinit { stop() }

    public func start() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.tansu) else {
            throw TestFailure("\(Self.tansu) is missing: run scripts/bootstrap.sh (make test does)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.tansu)
        process.arguments =
            ["broker", "--listener-url", url, "--advertised-listener-url", advertisedURL] + extraArguments
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        try waitUntil("the dev broker accepts connections on port \(port)", timeout: 10) {
            canConnect(port: port)
        }
    }

    /// Stops the broker (SIGKILL: an outage, not a graceful shutdown).
    public func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Creates `name` with `partitions` partitions through Tansu's admin command.
    public func createTopic(_ name: String, partitions: Int) throws {
        let result = try run(Self.tansu, ["topic", "create", "--broker", url, "--partitions", "\(partitions)", name])
        guard result.status == 0 else { throw TestFailure("tansu topic create \(name) failed: \(result.output)") }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
public func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw TestFailure("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// Runs a program to completion, returning its exit status and combined output.
@discardableResult
public func run(_ path: String, _ arguments: [String], input: Data? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    let writer = Thread {
        if let input { stdin.fileHandleForWriting.write(input) }
        try? stdin.fileHandleForWriting.close()
    }
    writer.start()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// A test precondition that did not hold, with what was expected.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds, failing with `description` after `timeout` seconds.
public func waitUntil(_ description: String, timeout: Double, interval: Double = 0.01, _ condition: () throws -> Bool)
    throws
{
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw TestFailure("timed out after \(timeout) s waiting until \(description)") }
        Thread.sleep(forTimeInterval: interval)
    }
}

/// A fresh directory for one test's files, short enough for a Unix socket path.
public func temporaryDirectory() throws -> String {
    var template = Array("/tmp/sluice-test-XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
    return String(cString: path)
}

/// The `sluice` executable built beside the test bundle.
public func sluiceExecutable() throws -> String {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("sluice").path
    let candidates = [besideTests, repositoryRoot.appendingPathComponent(".build/debug/sluice").path]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw TestFailure("the sluice executable is not built (looked in \(candidates)); run swift build first")
    }
    return found
}
