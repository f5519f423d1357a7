import Testing

@testable import SluiceGateway

@Suite("Circuit breaker transitions, with an injected clock")
struct CircuitBreakerTests {
    func breaker(window: Int = 10, minimum: Int = 4, halfOpen: Int = 3, wait: Int64 = 1_000)
        -> CircuitBreakerStateMachine
    {
        var configuration = CircuitBreakerConfiguration()
        configuration.slidingWindowSize = window
        configuration.minimumNumberOfCalls = minimum
        configuration.permittedCallsInHalfOpenState = halfOpen
        configuration.waitDurationInOpenStateMilliseconds = wait
        return CircuitBreakerStateMachine(configuration: configuration)
    }

    @Test func opensAtTheThresholdOnlyAfterMinimumCalls() {
        var machine = breaker()
        #expect(machine.record(failure: true, now: 0) == nil)
        #expect(machine.record(failure: true, now: 1) == nil)
        #expect(machine.record(failure: true, now: 2) == nil, "3 calls are below the minimum of 4")
        let opened = machine.record(failure: false, now: 3)
        #expect(opened == .init(from: .closed, to: .open, failureRate: 75))
        #expect(machine.state == .open)
        #expect(machine.allowsCalls(now: 500) == (false, nil))
    }

    @Test func staysClosedBelowTheThreshold() {
        var machine = breaker()
        for i in 0..<100 { #expect(machine.record(failure: i % 3 == 2, now: Int64(i)) == nil) }
        #expect(machine.state == .closed)
        #expect(machine.failureRate < 50)
    }

    @Test func slidingWindowForgetsOldOutcomes() {
        var machine = breaker(window: 4, minimum: 4)
        _ = machine.record(failure: true, now: 0)
        for i in 1...3 { _ = machine.record(failure: false, now: Int64(i)) }
        #expect(machine.failureRate == 25)
        _ = machine.record(failure: false, now: 4)
        #expect(machine.failureRate == 0, "the failure slid out of a 4-call window")
        _ = machine.record(failure: true, now: 5)
        #expect(machine.record(failure: true, now: 6) == .init(from: .closed, to: .open, failureRate: 50))
    }

    @Test func halfOpenAfterTheWaitThenClosesOnSuccess() {
        var machine = breaker()
        _ = machine.forceOpen(now: 1_000)
        #expect(machine.allowsCalls(now: 1_999).0 == false)
        let (allowed, transition) = machine.allowsCalls(now: 2_000)
        #expect(allowed)
        #expect(transition?.to == .halfOpen)
        #expect(machine.record(failure: false, now: 2_001) == nil)
        #expect(machine.record(failure: true, now: 2_002) == nil)
        #expect(machine.record(failure: false, now: 2_003)?.to == .closed, "1 of 3 failed: 33 % < 50 %")
        #expect(machine.state == .closed)
        #expect(machine.failureRate == 0, "a closed circuit starts a fresh window")
    }

    @Test func halfOpenReopensOnFailures() {
        var machine = breaker()
        _ = machine.forceOpen(now: 0)
        _ = machine.allowsCalls(now: 1_000)
        _ = machine.record(failure: true, now: 1_001)
        _ = machine.record(failure: true, now: 1_002)
        #expect(machine.record(failure: false, now: 1_003)?.to == .open)
        #expect(machine.allowsCalls(now: 1_500).0 == false, "the wait starts again from the reopening")
        #expect(machine.allowsCalls(now: 2_003).0)
    }

    @Test func forceOpenIsIdempotentAndLateReportsAreIgnored() {
        var machine = breaker()
        #expect(machine.forceOpen(now: 0)?.to == .open)
        #expect(machine.forceOpen(now: 1) == nil)
        #expect(machine.record(failure: false, now: 2) == nil)
        #expect(machine.state == .open)
    }
}
