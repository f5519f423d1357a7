import CRdKafka
import Foundation
import Logging
import Synchronization

/// The result of one record's delivery, from librdkafka's delivery report.
public enum DeliveryOutcome: Sendable {
    case delivered(partition: Int32, offset: Int64)
    case failed(KafkaError)
}

/// Adds headers to a record being produced; valid only inside `KafkaProducer.produce`.
public struct HeaderWriter {
    fileprivate let pointer: OpaquePointer

    public func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        name.withMemoryRebound(to: CChar.self) { name in
            _ = rd_kafka_header_add(pointer, name.baseAddress, name.count, value.baseAddress, value.count)
        }
    }
}

/// What the delivery-report and log callbacks need, reached through librdkafka's opaque.
private final class CallbackContext: Sendable {
    let onDelivery: @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void
    let logger: Logger

    init(onDelivery: @escaping @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void, logger: Logger) {
        self.onDelivery = onDelivery
        self.logger = logger
    }
}

/// An idempotent librdkafka producer whose delivery reports call back per record.
///
/// `@unchecked Sendable`: librdkafka documents `rd_kafka_t` as thread-safe for produce,
/// poll, flush and queue inspection, which is all this class does with it; the
/// remaining state is immutable or atomic.
public final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let context: Unmanaged<CallbackContext>
    private let stopping = Atomic<Bool>(false)
    private let pollerDone = DispatchSemaphore(value: 0)
    private let closed = Mutex(false)
    private let logger: Logger

    /// Starts a producer; `onDelivery` receives each record's opaque and outcome on
    /// librdkafka's polling thread (or the thread calling `flush`).
    public init(
        configuration: ProducerConfiguration, logger: Logger,
        onDelivery: @escaping @Sendable (UnsafeMutableRawPointer?, DeliveryOutcome) -> Void
    ) throws(KafkaError) {
        self.logger = logger
        let config = try RDKafkaConfig(configuration.librdkafkaProperties)
        let context = Unmanaged.passRetained(CallbackContext(onDelivery: onDelivery, logger: logger))
        rd_kafka_conf_set_opaque(config.pointer, context.toOpaque())
        rd_kafka_conf_set_dr_msg_cb(config.pointer, deliveryReportCallback)
        rd_kafka_conf_set_log_cb(config.pointer, logCallback)
        rd_kafka_conf_set_error_cb(config.pointer, errorCallback)
        do {
            handle = try config.makeClient(RD_KAFKA_PRODUCER)
        } catch {
            context.release()
            throw error
        }
        self.context = context
        // Unowned: close(), called at the latest from deinit, waits for this thread to end.
        let poller = Thread { [unowned self] in
            while !stopping.load(ordering: .acquiring) {
                rd_kafka_poll(handle, 100)
            }
            pollerDone.signal()
        }
        poller.name = "sluice-kafka-poll"
        poller.start()
    }

    deinit {
        close(flushTimeoutMilliseconds: 0)
    }

    /// Queues one record; the delivery report later carries `opaque` back.
    ///
    /// `topic` must be a valid Kafka topic name (at most 249 bytes). Throws `queueFull` when
    /// librdkafka's queue is at its limit; nothing was queued then.
    public func produce(
        topic: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
        timestamp: Int64, headerCount: Int, opaque: UnsafeMutableRawPointer?, headers addHeaders: (HeaderWriter) -> Void
    ) throws(KafkaError) {
        let headers = rd_kafka_headers_new(headerCount)!
        addHeaders(HeaderWriter(pointer: headers))
        let error = sluice_rd_produce(
            handle, topic.baseAddress, topic.count, key.baseAddress, key.count, value.baseAddress, value.count,
            headers, timestamp, opaque)
        guard error != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        rd_kafka_headers_destroy(headers)
        throw KafkaError(error == RD_KAFKA_RESP_ERR__QUEUE_FULL ? .queueFull : .produce, error: error)
    }

    /// Records waiting in librdkafka's queue or in flight to a broker.
    public var queueDepth: Int { Int(rd_kafka_outq_len(handle)) }

    /// Waits up to `timeoutMilliseconds` for every queued record's delivery report;
    /// returns how many are still outstanding.
    @discardableResult
    public func flush(timeoutMilliseconds: Int) -> Int {
        _ = rd_kafka_flush(handle, Int32(clamping: timeoutMilliseconds))
        return queueDepth
    }

    /// Flushes, stops polling and destroys the client. Later calls do nothing.
    public func close(flushTimeoutMilliseconds: Int) {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        let left = flush(timeoutMilliseconds: flushTimeoutMilliseconds)
        if left > 0 {
            logger.warning("closing the producer with \(left) records undelivered")
        }
        stopping.store(true, ordering: .releasing)
        pollerDone.wait()
        rd_kafka_destroy(handle)
        context.release()
    }
}

private func deliveryReportCallback(
    _ client: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, let opaque else { return }
    let context = Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    let m = message.pointee
    if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
        context.onDelivery(m._private, .delivered(partition: m.partition, offset: m.offset))
    } else {
        context.onDelivery(m._private, .failed(KafkaError(.delivery, error: m.err)))
    }
}

private func logCallback(
    _ client: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?,
    _ text: UnsafePointer<CChar>?
) {
    guard let client, let opaque = rd_kafka_opaque(client) else { return }
    let logger = Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue().logger
    let message = "librdkafka \(facility.map { String(cString: $0) } ?? ""): \(text.map { String(cString: $0) } ?? "")"
    switch level {
    case ...3: logger.error("\(message)")
    case 4: logger.warning("\(message)")
    case 5, 6: logger.info("\(message)")
    default: logger.debug("\(message)")
    }
}

private func errorCallback(
    _ client: OpaquePointer?, _ error: Int32, _ reason: UnsafePointer<CChar>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let opaque else { return }
    let logger = Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue().logger
    logger.warning("Kafka: \(reason.map { String(cString: $0) } ?? "") (\(error))")
}

extension KafkaProducer {
    /// Serves delivery reports for up to `milliseconds`, freeing queue space; called by a
    /// publisher that found the queue full.
    public func waitForQueueSpace(milliseconds: Int32 = 10) {
        _ = rd_kafka_poll(handle, milliseconds)
    }
}
