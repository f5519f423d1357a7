import SluiceProtocol

/// Where one record of a client batch goes: the router's decision as a value.
///
/// The decisions are pure functions of what `Router` reads under the routing lock (and of
/// what the producer made of the record); `Router` carries the route out.
enum Route: Equatable {
    /// To the producer, which reports its delivery.
    case kafka
    /// To the spool, from which the retry worker delivers it in key order.
    case spool(SpoolReason)
    /// Not published: its failure goes into the batch's `ACK`.
    case refuse(Refusal)
}

/// Why a record went to the spool; `sluice spool show` prints the text as its last error.
enum SpoolReason: Equatable {
    /// The circuit breaker lets no call through.
    case circuitOpen
    /// Its key has records waiting in the spool, which it must not overtake.
    case behindKey
    /// The producer is being replaced and takes nothing until it is.
    case producerRestarting
    /// librdkafka refused its size: a poison record, dead-lettered if refused again.
    case tooLarge
    /// The gateway stopped before Kafka delivered it.
    case shutdown
    /// Kafka failed to deliver it; the spool keeps Kafka's error as its last error.
    case deliveryFailed

    var text: StaticString {
        switch self {
        case .circuitOpen: "circuit open"
        case .behindKey: "behind its key's spooled records"
        case .producerRestarting: "producer restarting"
        case .tooLarge: "too large for the producer"
        case .shutdown: "not delivered before shutdown"
        case .deliveryFailed: "delivery failed"
        }
    }
}

/// Why a record is refused: its error code, and the counter it goes to.
enum Refusal: Equatable {
    /// It breaks a rule of the protocol or of its topic's contract.
    case invalid(ErrorCode)
    /// librdkafka refused it for a reason of its own.
    case producerFailed
    /// Only the spool could take it, and storing failures is off.
    case notStored(ErrorCode)
    /// The spool could not take it: full (`OVERLOADED`) or failing (`INTERNAL`).
    case spoolFailed(ErrorCode)

    var code: ErrorCode {
        switch self {
        case .invalid(let code), .notStored(let code), .spoolFailed(let code): code
        case .producerFailed: .internal
        }
    }
}

/// What the producer made of a record routed to Kafka.
enum ProduceOutcome {
    case queued
    /// librdkafka's queue is full: wait for space, then route the record again.
    case queueFull
    /// The producer is unusable until restarted (a restart is under way).
    case unavailable
    /// librdkafka refused the record's size.
    case tooLarge
    case failed
}

extension Route {
    /// Routes a record before anything is produced.
    static func decide(invalid: ErrorCode?, circuitAllowsCalls: Bool, keySpooled: Bool, storeFailures: Bool) -> Route {
        if let invalid { return .refuse(.invalid(invalid)) }
        if !circuitAllowsCalls { return spool(.circuitOpen, storeFailures: storeFailures) }
        if keySpooled { return spool(.behindKey, storeFailures: storeFailures) }
        return .kafka
    }

    /// The final route of a record routed to Kafka; nil while librdkafka's queue is full.
    static func after(_ outcome: ProduceOutcome, storeFailures: Bool) -> Route? {
        switch outcome {
        case .queued: .kafka
        case .queueFull: nil
        case .unavailable: spool(.producerRestarting, storeFailures: storeFailures)
        case .tooLarge: spool(.tooLarge, storeFailures: storeFailures)
        case .failed: .refuse(.producerFailed)
        }
    }

    /// Routes a record whose delivery failed; never `.kafka`.
    ///
    /// `purged`: the producer took it back, which only a restart or the shutdown does.
    static func afterFailedDelivery(
        purged: Bool, stopping: Bool, restarting: Bool, retriable: Bool, storeFailures: Bool
    ) -> Route {
        guard storeFailures else { return .refuse(.notStored(retriable ? .deliveryFailed : .rejectedByBroker)) }
        if purged && stopping { return .spool(.shutdown) }
        if purged && restarting { return .spool(.producerRestarting) }
        return .spool(.deliveryFailed)
    }

    private static func spool(_ reason: SpoolReason, storeFailures: Bool) -> Route {
        storeFailures ? .spool(reason) : .refuse(.notStored(.deliveryFailed))
    }
}
