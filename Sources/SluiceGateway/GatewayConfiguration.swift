import SluiceKafka
import SluiceProtocol

/// Everything `Gateway` needs to run; `validate()` says what is wrong in words.
public struct GatewayConfiguration: Sendable {
    /// Path of the Unix socket clients connect to. Default: `/tmp/sluice.sock`.
    public var socketPath = "/tmp/sluice.sock"
    /// Permission bits of the socket file. Default: `0o660`.
    public var socketMode: UInt32 = 0o660
    /// The Kafka producer's settings.
    public var producer = ProducerConfiguration()
    /// Limits on client input, announced in `HELLO_OK`.
    public var limits = Limits()
    /// How long shutdown waits for librdkafka to deliver what it holds. Default: 10,000 ms.
    public var shutdownFlushTimeoutMilliseconds = 10_000

    public init() {}

    /// Throws a `ConfigurationError` naming the first invalid setting.
    public func validate() throws(ConfigurationError) {
        guard !socketPath.isEmpty, socketPath.utf8.count < 108 else {
            throw ConfigurationError("socket path must be 1 to 107 bytes long: \(socketPath)")
        }
        guard socketMode <= 0o777 else {
            throw ConfigurationError("socket mode \(String(socketMode, radix: 8)) is not a permission mode")
        }
        guard !producer.bootstrapServers.isEmpty else { throw ConfigurationError("no Kafka brokers given") }
        guard limits.maxFrameBytes > 0, limits.maxDecompressedBytes > 0, limits.maxRecordsPerFrame > 0 else {
            throw ConfigurationError("frame limits must be positive")
        }
        guard shutdownFlushTimeoutMilliseconds >= 0 else {
            throw ConfigurationError("shutdown flush timeout must not be negative")
        }
    }
}

/// A configuration that cannot work, with the reason.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
