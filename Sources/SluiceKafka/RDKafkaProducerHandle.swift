import CRdKafka
import Foundation
import Logging
import SluiceSystem
import Synchronization

/// What the delivery-report and log callbacks need, reached through librdkafka's opaque.
final class CallbackContext: Sendable {
    let onDelivery: @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void
    let onError: @Sendable (KafkaError) -> Void
    let logger: Logger
    /// Secrets to keep out of log lines, and the brokers' last refusal of TLS or SASL.
    let security = ConnectionSecurity()

    init(
        onDelivery: @escaping @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void,
        onError: @escaping @Sendable (KafkaError) -> Void, logger: Logger
    ) {
        self.onDelivery = onDelivery
        self.onError = onError
        self.logger = logger
    }
}

/// One librdkafka producer handle and the thread that polls it.
///
/// `@unchecked Sendable`: librdkafka documents `rd_kafka_t` as thread-safe for produce,
/// poll, flush, purge and queue inspection, which is all this class does with it; the
/// remaining state is immutable or atomic.
final class RDKafkaProducerHandle: @unchecked Sendable {
    let handle: OpaquePointer
    private let poller = Poller()
    private let closed = Mutex(false)

    /// What the polling thread shares with the handle; not the handle itself, whose
    /// `deinit` stops the thread.
    private final class Poller: Sendable {
        let stopping = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
    }

    /// The callbacks' context lives as long as any handle that may call them.
    private let context: CallbackContext

    init(properties: [(String, String)], context: CallbackContext) throws(KafkaError) {
        self.context = context
        let config = try RDKafkaConfig(properties)
        context.security.register(properties)
        rd_kafka_conf_set_opaque(config.pointer, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(config.pointer, deliveryReportCallback)
        rd_kafka_conf_set_log_cb(config.pointer, logCallback)
        rd_kafka_conf_set_error_cb(config.pointer, errorCallback)
        handle = try config.makeClient(RD_KAFKA_PRODUCER)
        // close(), called at the latest from deinit, waits for this thread to end.
        nonisolated(unsafe) let handle = handle
        let thread = Thread { [poller] in
            // Linux keeps 15 bytes of a thread's name; this one serves the delivery reports.
            nameCurrentThread("sluice-delivery")
            while !poller.stopping.load(ordering: .acquiring) {
                rd_kafka_poll(handle, 100)
            }
            poller.done.signal()
        }
        thread.start()
    }

    /// A handle replaced by `KafkaProducer.reset()` goes when the last session holding it
    /// does; whatever such a session added late fails as purged, with its report.
    deinit { close(flushTimeoutMilliseconds: 5_000, purging: true) }

    var queueDepth: Int { Int(rd_kafka_outq_len(handle)) }

    func flush(timeoutMilliseconds: Int) -> Int {
        _ = rd_kafka_flush(handle, Int32(clamping: timeoutMilliseconds))
        return queueDepth
    }

    func close(flushTimeoutMilliseconds: Int, purging: Bool = false) {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        if purging { _ = rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)) }
        _ = flush(timeoutMilliseconds: flushTimeoutMilliseconds)
        poller.stopping.store(true, ordering: .releasing)
        poller.done.wait()
        rd_kafka_destroy(handle)
    }
}

private func deliveryReportCallback(
    _ client: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, let opaque else { return }
    // Borrowed, not retained: the context outlives the handle (one report per record, so
    // a retain and release each would be noticeable).
    Unmanaged<CallbackContext>.fromOpaque(opaque)._withUnsafeGuaranteedRef { context in
        let m = message.pointee
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            context.security.delivered()
            context.onDelivery(m._private, .delivered(partition: m.partition, offset: m.offset))
        } else {
            context.onDelivery(m._private, .failed(KafkaError(.delivery, error: m.err), FailedMessage(message)))
        }
    }
}

private func logCallback(
    _ client: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?,
    _ text: UnsafePointer<CChar>?
) {
    guard let client, let opaque = rd_kafka_opaque(client) else { return }
    let context = Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    let logger = context.logger
    let name = facility.map { String(cString: $0) } ?? ""
    // `debug=conf` prints every property, and librdkafka 2.8 redacts only some of the secret ones.
    let message = "librdkafka \(name): \(context.security.scrub(text.map { String(cString: $0) } ?? ""))"
    let metadata: Logger.Metadata = ["source": "librdkafka", "facility": "\(name)"]
    switch level {
    case ...3: logger.error("\(message)", metadata: metadata)
    case 4: logger.warning("\(message)", metadata: metadata)
    case 5, 6: logger.info("\(message)", metadata: metadata)
    default: logger.debug("\(message)", metadata: metadata)
    }
}

private func errorCallback(
    _ client: OpaquePointer?, _ error: Int32, _ reason: UnsafePointer<CChar>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let opaque else { return }
    let context = Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    let text = context.security.scrub(reason.map { String(cString: $0) } ?? "")
    context.security.noteError(code: error, text: text, from: client)
    // librdkafka's log callback has already written a line for a failed connection or
    // name lookup, and "all brokers down" is the reason the circuit breaker logs when it
    // opens: one line per failure, so these go to debug here.
    let alreadyLogged =
        error == RD_KAFKA_RESP_ERR__TRANSPORT.rawValue || error == RD_KAFKA_RESP_ERR__RESOLVE.rawValue
        || error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
    if alreadyLogged {
        context.logger.debug("Kafka error callback: \(text) (\(error))")
    } else {
        context.logger.warning("Kafka: \(text) (\(error))")
    }
    context.onError(KafkaError(.delivery, reason: text, rawCode: error))
}

extension FailedMessage {
    fileprivate init(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let headers = messageHeaders(message)
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &type)
        self.init(
            topic: String(cString: rd_kafka_topic_name(m.rkt)),
            key: m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) } ?? [],
            value: m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? [],
            headers: headers, timestamp: timestamp)
    }
}
