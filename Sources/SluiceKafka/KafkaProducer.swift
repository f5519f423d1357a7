import CRdKafka
import Foundation
import Logging
import SluiceSystem
import Synchronization

/// The result of one record's delivery, from librdkafka's delivery report.
public enum DeliveryOutcome: Sendable {
    case delivered(partition: Int32, offset: Int64)
    /// The record as librdkafka held it, so it can be kept elsewhere (the spool).
    case failed(KafkaError, FailedMessage)
}

/// A record whose delivery failed, copied out of its delivery report.
public struct FailedMessage: Sendable {
    public var topic: String
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [(name: String, value: [UInt8])]
    public var timestamp: Int64

    public init(
        topic: String, key: [UInt8], value: [UInt8], headers: [(name: String, value: [UInt8])], timestamp: Int64
    ) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// Adds headers to a record being produced; valid only inside `ProducerSession.produce`.
public struct HeaderWriter {
    fileprivate let pointer: OpaquePointer

    public func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        name.withMemoryRebound(to: CChar.self) { name in
            _ = rd_kafka_header_add(pointer, name.baseAddress, name.count, value.baseAddress, value.count)
        }
    }
}

/// An idempotent librdkafka producer whose delivery reports call back per record.
///
/// The librdkafka handle underneath can be replaced (`reset()`): an idempotent producer
/// whose cluster came back empty keeps being refused (`UNKNOWN_PRODUCER_ID`) until it
/// starts over with a new producer id.
public final class KafkaProducer: Sendable {
    private let current: Mutex<RDKafkaProducerHandle>
    /// What a new handle is made from: the configuration's properties, until `replace` changes them.
    private let properties: Mutex<[(String, String)]>
    /// Held by `reset` and `replace`, so one handle change finishes before the next begins.
    private let swapping = Mutex(())
    private let context: CallbackContext
    private let closed = Mutex(false)
    private let logger: Logger

    /// Starts a producer; `onDelivery` receives each record's opaque and outcome on
    /// librdkafka's polling thread (or the thread calling `flush`); `onError` hears
    /// client-wide errors such as every broker being down.
    public init(
        configuration: ProducerConfiguration, logger: Logger,
        onError: @escaping @Sendable (KafkaError) -> Void = { _ in },
        onDelivery: @escaping @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void
    ) throws(KafkaError) {
        self.logger = logger
        let properties = configuration.librdkafkaProperties
        self.properties = Mutex(properties)
        let context = CallbackContext(onDelivery: onDelivery, onError: onError, logger: logger)
        let first = try RDKafkaProducerHandle(properties: properties, context: context)
        context.security.becameCurrent(first.handle)
        current = Mutex(first)
        self.context = context
    }

    deinit {
        close(flushTimeoutMilliseconds: 0)
    }

    var client: RDKafkaProducerHandle { current.withLock { $0 } }

    /// The current librdkafka handle, for producing a whole batch without looking it up per record.
    public func session() -> ProducerSession { ProducerSession(client: client) }

    /// Records waiting in librdkafka's queue or in flight to a broker.
    public var queueDepth: Int { client.queueDepth }

    /// librdkafka's last error saying the brokers refuse this client's TLS or SASL (certificate
    /// not trusted or expired, authentication failed), until a record is delivered again or
    /// the producer gets other connection settings; nil while there is none.
    public var connectionProblem: String? { context.security.current }

    /// Waits up to `timeoutMilliseconds` for every queued record's delivery report;
    /// returns how many are still outstanding.
    @discardableResult
    public func flush(timeoutMilliseconds: Int) -> Int {
        client.flush(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Starts over with a new librdkafka handle (and so a new producer id). Everything the
    /// old one still holds, queued or in flight, fails as purged (possibly delivered); every
    /// report is served before this returns and the old handle is destroyed.
    public func reset() throws(KafkaError) {
        try swapping.withLock { _ throws(KafkaError) in try resetHandle() }
    }

    private func resetHandle() throws(KafkaError) {
        let fresh = try RDKafkaProducerHandle(properties: properties.withLock { $0 }, context: context)
        let old = current.withLock { current in
            defer {
                current = fresh
                context.security.becameCurrent(fresh.handle)
            }
            return current
        }
        // A session that took the old handle just before the swap may still add records:
        // purge until it is empty. The handle itself goes with its last session.
        let deadline = monotonicNanoseconds() + 10_000_000_000
        repeat {
            _ = rd_kafka_purge(old.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        } while old.flush(timeoutMilliseconds: 100) > 0 && monotonicNanoseconds() < deadline
        logger.notice("Kafka producer restarted with a new producer id")
    }

    /// Starts over with a handle made from `configuration` once the old one has delivered what it
    /// holds, so nothing is sent twice and no key's records overtake each other.
    ///
    /// The caller keeps records from being produced meanwhile. What the old handle has not
    /// delivered within `drainTimeoutMilliseconds` fails as purged (possibly delivered), as in
    /// `reset()`. Returns how many records were purged.
    public func replace(
        with configuration: ProducerConfiguration, drainTimeoutMilliseconds: Int
    ) throws(KafkaError) -> Int {
        try swapping.withLock { _ throws(KafkaError) in
            try replaceHandle(with: configuration, drainTimeoutMilliseconds: drainTimeoutMilliseconds)
        }
    }

    private func replaceHandle(
        with configuration: ProducerConfiguration, drainTimeoutMilliseconds: Int
    ) throws(KafkaError) -> Int {
        let fresh = try RDKafkaProducerHandle(properties: configuration.librdkafkaProperties, context: context)
        let old = client
        let left = old.flush(timeoutMilliseconds: drainTimeoutMilliseconds)
        properties.withLock { $0 = configuration.librdkafkaProperties }
        current.withLock { $0 = fresh }
        context.security.becameCurrent(fresh.handle)
        if left > 0 { _ = rd_kafka_purge(old.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)) }
        _ = old.flush(timeoutMilliseconds: 10_000)
        logger.notice(
            "Kafka producer replaced with new settings\(left > 0 ? ", \(left) undelivered records purged" : "")")
        return left
    }

    /// Whether a broker answers a metadata request within `timeoutMilliseconds`.
    public func brokerAnswers(timeoutMilliseconds: Int) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(client.handle, 0, nil, &metadata, Int32(clamping: timeoutMilliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return error == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Flushes, stops polling and destroys the client. Later calls do nothing.
    public func close(flushTimeoutMilliseconds: Int) {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        let client = self.client
        let left = client.flush(timeoutMilliseconds: flushTimeoutMilliseconds)
        if left > 0 {
            logger.warning("closing the producer with \(left) records undelivered")
        }
        client.close(flushTimeoutMilliseconds: 0)
    }
}

extension KafkaProducer {
    /// Serves delivery reports for up to `milliseconds`, freeing queue space; called by a
    /// publisher that found the queue full.
    public func waitForQueueSpace(milliseconds: Int32 = 10) {
        _ = rd_kafka_poll(client.handle, milliseconds)
    }

    /// Fails every record still waiting in librdkafka's queue, and with `inFlight` those
    /// sent to a broker too, at once (their delivery reports say `isPurged`), instead of
    /// letting them wait out the message timeout.
    public func purge(inFlight: Bool = false) {
        let flags = RD_KAFKA_PURGE_F_QUEUE | (inFlight ? RD_KAFKA_PURGE_F_INFLIGHT : 0)
        _ = rd_kafka_purge(client.handle, Int32(flags))
    }
}

/// Every header of a message (produced, consumed or reported), in order.
func messageHeaders(_ message: UnsafePointer<rd_kafka_message_t>) -> [(name: String, value: [UInt8])] {
    var headers: [(name: String, value: [UInt8])] = []
    var list: OpaquePointer?
    guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return headers }
    var index = 0
    var name: UnsafePointer<CChar>?
    var value: UnsafeRawPointer?
    var size = 0
    while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
        let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
        headers.append((name.map { String(cString: $0) } ?? "", bytes))
        index += 1
    }
    return headers
}

/// One librdkafka handle of a `KafkaProducer`, held for a batch of records on one thread.
///
/// If the producer is reset meanwhile, records produced here still go through the old
/// handle, which reports them (as purged) before it is destroyed.
public final class ProducerSession {
    let client: RDKafkaProducerHandle
    /// The last topic produced to and librdkafka's handle of it: a batch's records mostly
    /// share a topic, and the handle spares librdkafka a lookup by name per record.
    private var topicName: [UInt8] = []
    private var topicHandle: OpaquePointer?

    init(client: RDKafkaProducerHandle) {
        self.client = client
    }

    deinit {
        if let topicHandle { rd_kafka_topic_destroy(topicHandle) }
    }

    /// Queues one record; the delivery report later carries `opaque` back.
    ///
    /// `topic` must be a valid Kafka topic name (at most 249 bytes). Throws `queueFull` when
    /// librdkafka's queue is at its limit; nothing was queued then.
    public func produce(
        topic: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
        timestamp: Int64, headerCount: Int, opaque: UnsafeMutableRawPointer?, headers addHeaders: (HeaderWriter) -> Void
    ) throws(KafkaError) {
        guard let handle = handle(of: topic) else {
            let reason = rd_kafka_last_error()
            throw KafkaError(
                .produce, error: reason != RD_KAFKA_RESP_ERR_NO_ERROR ? reason : RD_KAFKA_RESP_ERR__INVALID_ARG)
        }
        // No list at all for a record without headers: librdkafka takes NULL as none, and an
        // empty list would still be allocated, carried and freed per record.
        let headers = headerCount > 0 ? rd_kafka_headers_new(headerCount)! : nil
        if let headers { addHeaders(HeaderWriter(pointer: headers)) }
        let error = sluice_rd_produce(
            client.handle, handle, key.baseAddress, key.count, value.baseAddress, value.count, headers, timestamp,
            opaque)
        guard error != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        if let headers { rd_kafka_headers_destroy(headers) }
        throw KafkaError(error == RD_KAFKA_RESP_ERR__QUEUE_FULL ? .queueFull : .produce, error: error)
    }

    private func handle(of topic: UnsafeRawBufferPointer) -> OpaquePointer? {
        let same =
            topicName.count == topic.count
            && topicName.withUnsafeBytes { name in
                topic.isEmpty || memcmp(name.baseAddress!, topic.baseAddress!, topic.count) == 0
            }
        if same, let topicHandle { return topicHandle }
        if let topicHandle { rd_kafka_topic_destroy(topicHandle) }
        topicName = Array(topic)
        topicHandle = sluice_rd_topic(client.handle, topic.baseAddress, topic.count)
        return topicHandle
    }
}
