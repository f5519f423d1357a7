import Synchronization

/// The breaker's settings, named as in resilience4j.
public struct CircuitBreakerConfiguration: Sendable, Equatable {
    /// Failure rate (percent of the window) at or above which the circuit opens. Default: 50.
    public var failureRateThreshold: Double = 50
    /// How many recent outcomes the sliding window holds. Default: 100.
    public var slidingWindowSize = 100
    /// Outcomes needed in the window before the rate is judged. Default: 10.
    public var minimumNumberOfCalls = 10
    /// How long the circuit stays open before letting probes through, in ms. Default: 10,000.
    public var waitDurationInOpenStateMilliseconds: Int64 = 10_000
    /// Outcomes judged in half-open before closing or reopening. Default: 10.
    public var permittedCallsInHalfOpenState = 10

    public init() {}
}

/// CLOSED / OPEN / HALF_OPEN over a count-based sliding window of delivery outcomes.
///
/// A pure state machine: callers pass the time in, so tests drive it with a fake clock.
/// Every transition is returned so the caller can log, count and react to it.
public struct CircuitBreakerStateMachine: Sendable {
    public enum State: String, Sendable {
        case closed = "CLOSED"
        case open = "OPEN"
        case halfOpen = "HALF_OPEN"
    }

    /// A change of state, for the caller to act on.
    public struct Transition: Sendable, Equatable {
        public var from: State
        public var to: State
        public var failureRate: Double
    }

    public private(set) var configuration: CircuitBreakerConfiguration
    public private(set) var state = State.closed
    private var window: [Bool] = []  // true = failure; a ring buffer once full
    private var next = 0
    private var failures = 0
    private var openedAt: Int64 = 0
    private var halfOpenCalls = 0
    private var halfOpenFailures = 0

    public init(configuration: CircuitBreakerConfiguration) {
        self.configuration = configuration
    }

    /// Takes a reloaded configuration: the state stays, the window of outcomes starts over.
    public mutating func reconfigure(_ configuration: CircuitBreakerConfiguration) {
        guard configuration != self.configuration else { return }
        self.configuration = configuration
        window = []
        next = 0
        failures = 0
        halfOpenCalls = 0
        halfOpenFailures = 0
    }

    /// Whether records may go to Kafka now; moves OPEN to HALF_OPEN once the wait is over.
    public mutating func allowsCalls(now: Int64) -> (Bool, Transition?) {
        switch state {
        case .closed, .halfOpen:
            return (true, nil)
        case .open:
            guard now - openedAt >= configuration.waitDurationInOpenStateMilliseconds else { return (false, nil) }
            return (true, move(to: .halfOpen, rate: failureRate))
        }
    }

    /// Records one delivery outcome.
    public mutating func record(failure: Bool, now: Int64) -> Transition? {
        switch state {
        case .closed:
            if window.count < configuration.slidingWindowSize {
                window.append(failure)
            } else {
                if window[next] { failures -= 1 }
                window[next] = failure
                next = (next + 1) % configuration.slidingWindowSize
            }
            if failure { failures += 1 }
            if window.count >= configuration.minimumNumberOfCalls && failureRate >= configuration.failureRateThreshold {
                openedAt = now
                return move(to: .open, rate: failureRate)
            }
            return nil
        case .halfOpen:
            halfOpenCalls += 1
            if failure { halfOpenFailures += 1 }
            guard halfOpenCalls >= configuration.permittedCallsInHalfOpenState else { return nil }
            let rate = Double(halfOpenFailures) * 100 / Double(halfOpenCalls)
            if rate >= configuration.failureRateThreshold {
                openedAt = now
                return move(to: .open, rate: rate)
            }
            return move(to: .closed, rate: rate)
        case .open:
            return nil  // late reports of calls made before opening
        }
    }

    /// Opens at once (e.g. librdkafka reports every broker down), whatever the window says.
    public mutating func forceOpen(now: Int64) -> Transition? {
        guard state != .open else { return nil }
        openedAt = now
        return move(to: .open, rate: failureRate)
    }

    /// Failure rate of the current window, in percent.
    public var failureRate: Double {
        window.isEmpty ? 0 : Double(failures) * 100 / Double(window.count)
    }

    private mutating func move(to new: State, rate: Double) -> Transition {
        let transition = Transition(from: state, to: new, failureRate: rate)
        state = new
        window = []
        next = 0
        failures = 0
        halfOpenCalls = 0
        halfOpenFailures = 0
        return transition
    }
}
