import CRdKafka
import Foundation
import Synchronization

/// Which librdkafka properties hold secrets, and how their values are kept out of text.
///
/// A property is secret when its name contains `password`, `secret`, `passphrase`, `jaas`,
/// `private.key` or `credential`, or is one of `ssl.key.pem`, `ssl_key` and
/// `sasl.oauthbearer.config` (which carries `extension_…` values and, for the unsecured JWT
/// handler, the token's claims). librdkafka marks some of these `_RK_SENSITIVE` and prints
/// `[redacted]` for them in its `debug=conf` dump; 2.8 does not mark
/// `sasl.oauthbearer.client.secret`, and prints it in clear, so the list here is Sluice's own.
/// `sasl.username` is not secret here (the operator needs to see which user is configured).
public enum KafkaSecrets {
    static let secretWords = ["password", "secret", "passphrase", "jaas", "private.key", "credential"]
    static let secretNames: Set<String> = ["ssl.key.pem", "ssl_key", "sasl.oauthbearer.config"]

    /// Whether the value of the librdkafka property `name` is a secret.
    public static func isSecret(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return secretNames.contains(lowered) || secretWords.contains { lowered.contains($0) }
    }

    /// What is printed instead of a secret value.
    public static let redacted = "<redacted>"
}

/// Replaces the values of secret properties wherever they appear in a text.
public struct Redactor: Sendable, Equatable {
    /// The secret values, longest first so a value containing another is replaced whole.
    private var values: [String] = []

    public init() {}

    /// A redactor for the secret properties among `properties`.
    public init(_ properties: [(String, String)]) {
        add(properties)
    }

    /// Also redacts the secret values among `properties`. Values shorter than 3 characters are
    /// left alone: replacing them would garble every message and hide nothing.
    public mutating func add(_ properties: [(String, String)]) {
        for (name, value) in properties where KafkaSecrets.isSecret(name) && value.count >= 3 {
            if !values.contains(value) { values.append(value) }
        }
        values.sort { $0.count > $1.count }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    public func scrub(_ text: String) -> String {
        var result = text
        for value in values where result.contains(value) {
            result = result.replacingOccurrences(of: value, with: KafkaSecrets.redacted)
        }
        return result
    }
}

/// What the producer's callbacks know about the connection's security: the secrets to keep
/// out of log lines and errors, and the last time librdkafka said the brokers refuse this
/// client (TLS or SASL), until a record is delivered again.
final class ConnectionSecurity: Sendable {
    private let redactor = Mutex(Redactor())
    private let problem = Mutex<String?>(nil)
    private let hasProblem = Atomic<Bool>(false)
    private let lastProperties = Mutex<[String]>([])
    /// The handle in use (its address); a replaced handle still draining may fail to connect
    /// with settings a reload has just fixed, which says nothing about the new one.
    private let currentHandle = Atomic<UInt>(0)

    /// Marks `handle` as the one records now go to.
    func becameCurrent(_ handle: OpaquePointer) {
        currentHandle.store(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle))), ordering: .releasing)
    }

    /// Called for every new librdkafka handle: its secrets are redacted from now on (the old
    /// handle's too, since it may still log). Different connection settings forget the last
    /// refusal, which was about the old ones; the same ones (a restarted handle) keep it.
    func register(_ properties: [(String, String)]) {
        redactor.withLock { $0.add(properties) }
        let settings = properties.map { "\($0.0)=\($0.1)" }
        let changed = lastProperties.withLock { last in
            defer { last = settings }
            return !last.isEmpty && last != settings
        }
        if changed { clear() }
    }

    func scrub(_ text: String) -> String { redactor.withLock { $0 }.scrub(text) }

    /// Remembers a client-wide error from librdkafka's error callback when it says the brokers
    /// refuse this client's TLS or SASL.
    func noteError(code: Int32, text: String, from handle: OpaquePointer?) {
        guard Self.isRefusal(code: code, text: text) else { return }
        let current = currentHandle.load(ordering: .acquiring)
        if let handle, current != 0, UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle))) != current { return }
        problem.withLock { $0 = text }
        hasProblem.store(true, ordering: .releasing)
    }

    /// A delivered record shows the connection works.
    func delivered() {
        if hasProblem.load(ordering: .relaxed) { clear() }
    }

    var current: String? { problem.withLock { $0 } }

    private func clear() {
        hasProblem.store(false, ordering: .releasing)
        problem.withLock { $0 = nil }
    }

    /// Whether librdkafka's error says the brokers refuse this client: a TLS failure
    /// (`_SSL`, or a transport error whose text names SSL, such as the broker's alert for a
    /// missing or expired client certificate, or a plaintext client at a TLS listener), a
    /// SASL failure (`_AUTHENTICATION`), or a broker's authentication or authorization error.
    static func isRefusal(code: Int32, text: String) -> Bool {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR__SSL, RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
            RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE, RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM,
            RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
            // Not TOPIC_AUTHORIZATION_FAILED: one topic's ACL is that topic's failure (its records
            // are rejected and dead-lettered), not the whole gateway's.
            true
        case RD_KAFKA_RESP_ERR__TRANSPORT: text.contains("SSL")
        default: false
        }
    }
}
