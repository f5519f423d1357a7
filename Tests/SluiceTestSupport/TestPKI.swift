import Foundation

/// A private certificate authority made with the `openssl` command for one test, and the
/// certificates signed by it, all in a temporary directory removed with the value.
public final class TestPKI: @unchecked Sendable {
    // `@unchecked Sendable`: immutable after init.
    public let directory: String
    /// The CA's certificate: what `ssl.ca.location` names to trust the broker.
    public var caCertificate: String { directory + "/ca.pem" }
    /// Another CA's certificate, which did not sign the broker's: the wrong `ssl.ca.location`.
    public var otherCACertificate: String { directory + "/other-ca.pem" }
    /// The broker's certificate (for 127.0.0.1 and localhost) and key.
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    /// A client certificate and its key, encrypted with `clientKeyPassword`.
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }
    public let clientKeyPassword = "client-key-pass-\(UInt32.random(in: 1_000...9_999))"
    /// A client certificate for the same key that expired on 2 January 2020.
    public var expiredClientCertificate: String { directory + "/client-expired.pem" }

    public init() throws {
        directory = try temporaryDirectory()
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Sluice test CA",
        ])
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out",
            "other-ca.pem", "-days", "2", "-subj", "/CN=Another CA",
        ])
        try write("ca.cnf", Self.caConfiguration(directory))
        try write("index.txt", "")
        try write("serial", "1000\n")
        try openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1",
        ])
        try sign("server.csr", as: "server.pem", extensions: "server", days: ["-days", "2"])
        try openssl([
            "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes-256-cbc",
            "-pass", "pass:\(clientKeyPassword)", "-out", "client.key",
        ])
        try openssl([
            "req", "-new", "-key", "client.key", "-passin", "pass:\(clientKeyPassword)", "-out",
            "client.csr", "-subj", "/CN=sluice-test-client",
        ])
        try sign("client.csr", as: "client.pem", extensions: "client", days: ["-days", "2"])
        try sign(
            "client.csr", as: "client-expired.pem", extensions: "client",
            days: ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"])
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    private func openssl(_ arguments: [String]) throws {
        let result = try run("/bin/sh", ["-c", "cd \"$0\" && exec openssl \"$@\"", directory] + arguments)
        guard result.status == 0 else {
            throw TestFailure("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.output)")
        }
    }

    private func sign(_ request: String, as certificate: String, extensions: String, days: [String]) throws {
        try openssl(
            [
                "ca", "-batch", "-config", "ca.cnf", "-notext", "-in", request, "-out", certificate,
                "-extensions", extensions,
            ] + days)
    }

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    /// `openssl ca` settings: any start and end date, the broker's name in subjectAltName
    /// (librdkafka checks it, `ssl.endpoint.identification.algorithm=https`).
    private static func caConfiguration(_ directory: String) -> String {
        """
        [ca]
        default_ca = test
        [test]
        database = \(directory)/index.txt
        serial = \(directory)/serial
        new_certs_dir = \(directory)
        certificate = \(directory)/ca.pem
        private_key = \(directory)/ca.key
        default_md = sha256
        policy = any
        unique_subject = no
        [any]
        commonName = supplied
        [server]
        subjectAltName = IP:127.0.0.1,DNS:localhost
        basicConstraints = CA:FALSE
        keyUsage = digitalSignature,keyEncipherment
        extendedKeyUsage = serverAuth
        [client]
        basicConstraints = CA:FALSE
        keyUsage = digitalSignature,keyEncipherment
        extendedKeyUsage = clientAuth

        """
    }
}
