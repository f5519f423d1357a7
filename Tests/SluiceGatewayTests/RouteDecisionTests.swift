import SluiceProtocol
import Testing

@testable import SluiceGateway

@Suite("The routing decision, without a broker")
struct RouteDecisionTests {
    func decide(
        invalid: ErrorCode? = nil, allowed: Bool = true, keySpooled: Bool = false, storeFailures: Bool = true
    ) -> Route {
        Route.decide(
            invalid: invalid, circuitAllowsCalls: allowed, keySpooled: keySpooled, storeFailures: storeFailures)
    }

    @Test func aValidRecordWithAClosedCircuitAndAFreeKeyGoesToKafka() {
        #expect(decide() == .kafka)
    }

    @Test func anInvalidRecordIsRefusedWithItsCodeWhateverElseHolds() {
        for allowed in [true, false] {
            for keySpooled in [true, false] {
                for storeFailures in [true, false] {
                    #expect(
                        decide(
                            invalid: .invalidKey, allowed: allowed, keySpooled: keySpooled,
                            storeFailures: storeFailures) == .refuse(.invalid(.invalidKey)))
                }
            }
        }
        #expect(Refusal.invalid(.topicNotAllowed).code == .topicNotAllowed)
    }

    @Test func anOpenCircuitSpoolsTheRecordAsCircuitOpenEvenBehindItsKey() {
        #expect(decide(allowed: false) == .spool(.circuitOpen))
        #expect(decide(allowed: false, keySpooled: true) == .spool(.circuitOpen))
    }

    @Test func aRecordWhoseKeyIsSpooledQueuesBehindIt() {
        #expect(decide(keySpooled: true) == .spool(.behindKey))
    }

    @Test func withoutStoreFailuresWhatWouldBeSpooledIsRefusedAsDeliveryFailed() {
        let refused = Route.refuse(.notStored(.deliveryFailed))
        #expect(decide(allowed: false, storeFailures: false) == refused)
        #expect(decide(keySpooled: true, storeFailures: false) == refused)
        #expect(decide(storeFailures: false) == .kafka, "store-failures does not change the direct route")
        #expect(Refusal.notStored(.deliveryFailed).code == .deliveryFailed)
    }

    @Test func whatTheProducerMadeOfTheRecordGivesItsFinalRoute() {
        #expect(Route.after(.queued, storeFailures: true) == .kafka)
        #expect(Route.after(.queueFull, storeFailures: true) == nil, "wait for space and route it again")
        #expect(Route.after(.unavailable, storeFailures: true) == .spool(.producerRestarting))
        #expect(Route.after(.tooLarge, storeFailures: true) == .spool(.tooLarge))
        #expect(Route.after(.failed, storeFailures: true) == .refuse(.producerFailed))
        #expect(Refusal.producerFailed.code == .internal)
    }

    @Test func withoutStoreFailuresAProducerThatCannotTakeTheRecordRefusesIt() {
        #expect(Route.after(.unavailable, storeFailures: false) == .refuse(.notStored(.deliveryFailed)))
        #expect(Route.after(.tooLarge, storeFailures: false) == .refuse(.notStored(.deliveryFailed)))
        #expect(Route.after(.queued, storeFailures: false) == .kafka)
        #expect(Route.after(.queueFull, storeFailures: false) == nil)
        #expect(Route.after(.failed, storeFailures: false) == .refuse(.producerFailed))
    }

    func failed(
        purged: Bool = false, stopping: Bool = false, restarting: Bool = false, retriable: Bool = true,
        storeFailures: Bool = true
    ) -> Route {
        Route.afterFailedDelivery(
            purged: purged, stopping: stopping, restarting: restarting, retriable: retriable,
            storeFailures: storeFailures)
    }

    @Test func aFailedDeliveryIsSpooledWithKafkasError() {
        #expect(failed() == .spool(.deliveryFailed))
        #expect(failed(retriable: false) == .spool(.deliveryFailed))
        #expect(
            failed(restarting: true) == .spool(.deliveryFailed),
            "a failure the broker reported is its own reason, even during a restart")
    }

    @Test func aRecordPurgedAtShutdownIsSpooledAsShutdown() {
        #expect(failed(purged: true, stopping: true) == .spool(.shutdown))
        #expect(failed(purged: true, stopping: true, restarting: true) == .spool(.shutdown))
    }

    @Test func aRecordPurgedByAProducerRestartIsSpooledAsProducerRestarting() {
        #expect(failed(purged: true, restarting: true) == .spool(.producerRestarting))
        #expect(failed(purged: true) == .spool(.deliveryFailed), "a late purge keeps Kafka's error")
    }

    @Test func withoutStoreFailuresAFailedDeliveryIsRefusedByHowItFailed() {
        #expect(failed(retriable: true, storeFailures: false) == .refuse(.notStored(.deliveryFailed)))
        #expect(failed(retriable: false, storeFailures: false) == .refuse(.notStored(.rejectedByBroker)))
        #expect(failed(purged: true, stopping: true, storeFailures: false) == .refuse(.notStored(.deliveryFailed)))
    }

    @Test func everySpoolReasonHasItsOwnText() {
        let reasons: [SpoolReason] = [
            .circuitOpen, .behindKey, .producerRestarting, .tooLarge, .shutdown, .deliveryFailed,
        ]
        let texts = reasons.map { $0.text.description }
        #expect(Set(texts).count == reasons.count)
        #expect(texts.allSatisfy { !$0.isEmpty })
        #expect(SpoolReason.circuitOpen.text.description == "circuit open")
    }
}
