import Logging
import SluiceKafka
import SluiceProtocol
import Synchronization

/// Which records may go straight to Kafka: the circuit breaker plus the keys that have
/// records waiting in the spool, kept together behind one lock.
///
/// Routing a batch, marking a key as spooled and handing records to the spool all happen
/// under this lock, so a key's records enter the spool in the order they were routed and
/// no record overtakes one of its key that is already spooled.
final class Routing: Sendable {
    struct State {
        var breaker: CircuitBreakerStateMachine
        /// Records waiting in the spool per key hash (`keyHash`). A collision only spools
        /// a record that could have gone directly, which keeps order all the same.
        var spooledKeys: [UInt64: Int] = [:]
        /// Next routing sequence number (`SpoolRecord.sequence`).
        var nextSequence: Int64
    }

    let state: Mutex<State>
    let clock: any MillisecondClock
    let stats: GatewayStats
    let logger: Logger
    private let onTransition: @Sendable (CircuitBreakerStateMachine.Transition) -> Void

    init(
        breaker: CircuitBreakerConfiguration, spooledKeys: [UInt64: Int], nextSequence: Int64,
        clock: any MillisecondClock, stats: GatewayStats, logger: Logger,
        onTransition: @escaping @Sendable (CircuitBreakerStateMachine.Transition) -> Void
    ) {
        state = Mutex(
            State(
                breaker: CircuitBreakerStateMachine(configuration: breaker), spooledKeys: spooledKeys,
                nextSequence: nextSequence))
        self.clock = clock
        self.stats = stats
        self.logger = logger
        self.onTransition = onTransition
    }

    /// Runs `body` with the routing state locked; transitions it causes are reported after,
    /// with `reason` (else the failure rate) as their cause.
    func withState<T>(
        reason: String? = nil, _ body: (inout State) -> (T, CircuitBreakerStateMachine.Transition?)
    ) -> T {
        let (result, transition) = state.withLock { body(&$0) }
        if let transition { report(transition, reason: reason) }
        return result
    }

    /// Records delivery outcomes of direct or retried records (outage failures only).
    func record(successes: Int, failures: Int) {
        guard successes + failures > 0 else { return }
        withState { state in
            var last: CircuitBreakerStateMachine.Transition?
            let now = clock.now()
            for _ in 0..<failures { last = state.breaker.record(failure: true, now: now) ?? last }
            for _ in 0..<successes { last = state.breaker.record(failure: false, now: now) ?? last }
            return ((), last)
        }
    }

    /// Opens the circuit now, e.g. when librdkafka says every broker is down.
    func forceOpen(reason: String) {
        withState(reason: reason) { state in ((), state.breaker.forceOpen(now: clock.now())) }
    }

    /// Moves OPEN to HALF_OPEN once the wait is over; true when records may go to Kafka.
    func allowsCalls() -> Bool {
        withState { state in state.breaker.allowsCalls(now: clock.now()) }
    }

    /// Takes a reloaded circuit-breaker configuration (the state stays).
    func reconfigure(breaker configuration: CircuitBreakerConfiguration) {
        state.withLock { $0.breaker.reconfigure(configuration) }
    }

    var breakerState: CircuitBreakerStateMachine.State { state.withLock { $0.breaker.state } }

    /// Forgets spooled records that left the spool (delivered or dead-lettered), counted per key hash.
    func unspool(_ counts: [UInt64: Int]) {
        guard !counts.isEmpty else { return }
        withState { state in
            for (hash, count) in counts {
                if let left = state.spooledKeys[hash] {
                    state.spooledKeys[hash] = left > count ? left - count : nil
                }
            }
            return ((), nil)
        }
    }

    /// Logs a transition once, its cause first, then tells the stats and the wiring.
    private func report(_ transition: CircuitBreakerStateMachine.Transition, reason: String?) {
        let rate = (transition.failureRate * 10).rounded() / 10
        let states: Logger.Metadata = [
            "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)", "failure-rate": "\(rate)",
        ]
        let arrow = "(\(transition.from.rawValue) → \(transition.to.rawValue))"
        switch transition.to {
        case .open:
            logger.error("circuit opened: \(reason ?? "failure rate \(rate) %") \(arrow)", metadata: states)
        case .halfOpen:
            logger.notice("circuit half-open: wait in open state over, probing Kafka \(arrow)", metadata: states)
        case .closed:
            logger.notice("circuit closed: Kafka delivers again, failure rate \(rate) % \(arrow)", metadata: states)
        }
        stats.countTransition(to: transition.to, now: clock.now())
        onTransition(transition)
    }
}

/// FNV-1a over topic, a separator and key: the spooled-key index's hash.
func keyHash(topic: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in topic { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    hash = (hash ^ 0xFF) &* 0x100_0000_01b3
    for byte in key { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

/// The `keyHash` of a record of a client batch whose bytes are `bytes`.
func keyHash(of record: RecordView, in bytes: UnsafeRawBufferPointer) -> UInt64 {
    keyHash(
        topic: UnsafeRawBufferPointer(rebasing: bytes[record.topic]),
        key: UnsafeRawBufferPointer(rebasing: bytes[record.key]))
}

func keyHash(topic: String, key: [UInt8]) -> UInt64 {
    var topic = topic
    return topic.withUTF8 { topicBytes in
        key.withUnsafeBytes { keyHash(topic: UnsafeRawBufferPointer(topicBytes), key: $0) }
    }
}
