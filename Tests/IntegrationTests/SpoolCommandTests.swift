import Foundation
import SluiceGateway
import SluiceKafkaForTesting
import SluiceProtocol
import SluiceTestSupport
import Testing

@Suite("sluice spool on a running gateway's spool", .timeLimit(.minutes(2)))
struct SpoolCommandTests {
    @Test func listShowReplayPurge() throws {
        let clock = ManualClock()
        let test = try TestGateway(mockCluster: KafkaMockCluster(), clock: clock) { configuration in
            configuration.retry.intervalMilliseconds = 3_600_000
            configuration.retry.maxAttempts = 1
        }
        let gateway = test.gateway
        let mock = try #require(test.mockCluster)
        mock.createTopic("ops", partitions: 1)
        mock.createTopic("ops.dlq", partitions: 1)
        let client = try RawClient.handshaken(socketPath: test.socketPath)
        let warmup = try client.publish([playerRecord(topic: "ops", player: "w", sequence: 0)])
        #expect(try client.readFrame(timeout: 20).0 == warmup)
        mock.failProduceRequests(count: 2, code: 87)  // the publish and its one retry
        let id = try client.publish([
            playerRecord(topic: "ops", player: "p", sequence: 0), playerRecord(topic: "ops", player: "q", sequence: 0),
        ])
        #expect(try client.readFrame(timeout: 20).0 == id)
        clock.advance(by: 60_000)
        gateway.retrySpoolNow()
        #expect(gateway.stats().retry.dlq == 2)

        let sluice = try sluiceExecutable()
        let spool = test.directory + "/spool.db"
        let list = try run(sluice, ["spool", "list", "--spool", spool, "--status", "DLQ"])
        #expect(list.status == 0, "\(list.output)")
        let row = try #require(list.output.split(separator: "\n").dropFirst().first, "\(list.output)")
        let fields = row.split(separator: "\t").map(String.init)
        #expect(fields[1] == "DLQ" && fields[3] == "ops" && fields[4] == "p")
        let recordID = fields[0]

        let show = try run(sluice, ["spool", "show", "--spool", spool, recordID])
        #expect(show.status == 0)
        #expect(show.output.contains("status:       DLQ"))
        #expect(show.output.contains("value:        p:0"))
        #expect(show.output.contains("client:       uid="))

        let young = try run(sluice, ["spool", "purge", "--spool", spool, "--older-than", "1d"])
        #expect(young.output.contains("purged 0 dead-lettered records"), "\(young.output)")

        let replay = try run(sluice, ["spool", "replay", "--spool", spool, recordID])
        #expect(replay.output.contains("replayed 1 records"), "\(replay.output)")
        #expect(gateway.stats().retry.pending == 1, "the running gateway sees what another process changed")
        #expect(gateway.stats().retry.dlq == 1)
        gateway.retrySpoolNow()
        #expect(gateway.stats().retry.resolved == 1, "the running gateway delivered the replayed record")
        #expect(gateway.stats().retry.pending == 0)

        let purge = try run(sluice, ["spool", "purge", "--spool", spool, "--older-than", "0s"])
        #expect(purge.output.contains("purged 1 dead-lettered records"), "\(purge.output)")
        #expect(gateway.stats().retry.dlq == 0)
        #expect(gateway.stats().retry.resolved == 1)

        let bad = try run(sluice, ["spool", "list", "--spool", spool, "--status", "LOST"])
        #expect(bad.status != 0)
    }
}
