import Foundation
import SluiceGateway
import SluiceKafka
import SluiceProtocol
import SluiceTestSupport
import Testing

@Suite("Health in STATS (mock cluster, injected clock)", .serialized, .timeLimit(.minutes(2)))
struct HealthTests {
    @Test func circuitOpenPastItsLimitIsUnhealthy() throws {
        let clock = ManualClock()
        let test = try faultGateway(clock: clock) { $0.health.maxCircuitOpenMilliseconds = 120_000 }
        let gateway = test.gateway
        #expect(gateway.stats().health.healthy && gateway.stats().health.problems.isEmpty)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try takeBrokerDownUntilOpen(test, client, probe: playerRecord(topic: "health", player: "probe", sequence: 0))
        clock.advance(by: 60_000)
        #expect(gateway.stats().health.healthy, "open for less than the limit is still healthy")
        clock.advance(by: 61_000)
        let health = gateway.stats().health
        #expect(!health.healthy)
        #expect(health.problems.count == 1)
        #expect(health.problems.first?.hasPrefix("circuit breaker") == true, "\(health.problems)")
    }

    @Test func nearlyFullSpoolIsUnhealthy() throws {
        let clock = ManualClock()
        let test = try faultGateway(clock: clock) { configuration in
            configuration.spoolMaxBytes = 4_000
            configuration.health.spoolFullPercent = 50
        }
        let gateway = test.gateway
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        try takeBrokerDownUntilOpen(test, client, probe: playerRecord(topic: "full", player: "probe", sequence: 0))
        var round = 0
        while gateway.stats().retry.spoolBytes < 2_000 {
            _ = try publishAndAwaitAck(client, [playerRecord(topic: "full", player: "p\(round)", sequence: 0)])
            round += 1
        }
        let stats = gateway.stats()
        #expect(stats.retry.spoolMaxBytes == 4_000)
        #expect(!stats.health.healthy)
        #expect(stats.health.problems.contains { $0.hasPrefix("spool") && $0.contains("% full") }, "\(stats.health)")
    }

    @Test func statsCarryTheLoadedLibraryVersions() throws {
        let gateway = try mockGateway()
        let versions = gateway.gateway.stats().versions
        #expect(versions.sluice == sluiceVersion)
        #expect(versions.librdkafka == KafkaLibrary.version)
        #expect(versions.librdkafka.hasPrefix("2."))
        #expect(!versions.sqlite.isEmpty && !versions.zstd.isEmpty)
    }

    @Test func librdkafkaOlderThan2Point1IsRefusedByName() throws {
        #expect(KafkaLibrary.versionNumber >= KafkaLibrary.minimumVersion, "the bundled library passes")
        try KafkaLibrary.checkVersion()
        let error = #expect(throws: KafkaError.self) { try KafkaLibrary.checkVersion(0x0200_02ff, name: "2.0.2") }
        #expect(error?.reason.contains("librdkafka 2.0.2 was loaded") == true, "\(String(describing: error))")
        #expect(error?.reason.contains("needs 2.1 or newer") == true)
    }
}
