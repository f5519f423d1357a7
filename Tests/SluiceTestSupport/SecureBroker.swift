import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The dev broker behind TLS: Tansu on a plain loopback port, advertising the port where
/// stunnel serves TLS with the test CA's broker certificate and forwards to it.
///
/// Tansu 0.6 cannot serve TLS itself: its `--cert` and `--key` options are declared in one
/// exclusive argument group, so giving both is refused, and its TLS setup asks for no client
/// certificate. stunnel (Debian's `stunnel4`) does both, with client certificates when
/// `requireClientCertificate` is set.
public final class SecureBroker: @unchecked Sendable {
    // `@unchecked Sendable`: `tunnel` is only touched by the test that owns the broker.
    public let broker: DevBroker
    public let tlsPort: Int
    private var tunnel: Process?
    private let configuration: String
    private let log: String

    /// What clients use: the TLS address.
    public var bootstrapServers: String { "127.0.0.1:\(tlsPort)" }

    public init(pki: TestPKI, requireClientCertificate: Bool = false) throws {
        tlsPort = try freeTCPPort()
        broker = try DevBroker(advertisedPort: tlsPort)
        configuration = pki.directory + "/stunnel-\(tlsPort).conf"
        log = pki.directory + "/stunnel-\(tlsPort).log"
        var settings = """
            foreground = yes
            pid =
            debug = 4
            output = \(log)
            [kafka]
            accept = 127.0.0.1:\(tlsPort)
            connect = 127.0.0.1:\(broker.port)
            cert = \(pki.serverCertificate)
            key = \(pki.serverKey)

            """
        if requireClientCertificate {
            settings += "CAfile = \(pki.caCertificate)\nverifyChain = yes\nrequireCert = yes\n"
        }
        try settings.write(toFile: configuration, atomically: true, encoding: .utf8)
        try start()
    }

    deinit { stopTunnel() }

    private func start() throws {
        guard
            let stunnel = ["/usr/bin/stunnel4", "/usr/bin/stunnel"].first(where: FileManager.default.isExecutableFile)
        else { throw TestFailure("stunnel4 is missing: run scripts/bootstrap.sh (make test does)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: stunnel)
        process.arguments = [configuration]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        tunnel = process
        try waitUntil("stunnel accepts connections on port \(tlsPort)", timeout: 10) {
            guard process.isRunning else { throw TestFailure("stunnel exited: \(self.tunnelLog)") }
            return canConnect(port: tlsPort)
        }
    }

    /// What stunnel logged: the TLS handshakes it refused and why.
    public var tunnelLog: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    private func stopTunnel() {
        guard let tunnel, tunnel.isRunning else { return }
        // SIGKILL: a child of a test process may inherit a signal mask that blocks SIGTERM.
        kill(tunnel.processIdentifier, SIGKILL)
        tunnel.waitUntilExit()
        self.tunnel = nil
    }
}
