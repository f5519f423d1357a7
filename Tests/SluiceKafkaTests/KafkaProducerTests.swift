import Foundation
import Logging
import SluiceKafka
import SluiceKafkaForTesting
import SluiceTestSupport
import Synchronization
import Testing

@Suite("Kafka producer wrapper", .timeLimit(.minutes(1)))
struct KafkaProducerTests {
    /// Kafka's own `UtilsTest.testMurmur2` cases: the test helper matches the Java client.
    @Test(arguments: [
        ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
    ])
    func javaMurmur2KnownAnswers(key: String, hash: Int32) {
        #expect(javaMurmur2(Array(key.utf8)) == hash)
    }

    @Test func badPropertyIsAConfigurationError() {
        var configuration = ProducerConfiguration()
        configuration.properties["no.such.property"] = "1"
        #expect {
            _ = try KafkaProducer(configuration: configuration, logger: Logger(label: "test")) { _, _ in }
        } throws: { error in
            (error as? KafkaError)?.code == .configuration
        }
    }

    @Test func deliveryReportsCarryEachRecordsOpaque() throws {
        let mock = try KafkaMockCluster()
        let configuration = ProducerConfiguration(bootstrapServers: mock.bootstrapServers)
        let delivered = Mutex<[Int: Int32]>([:])
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test")) {
            opaque, outcome in
            guard case .delivered(let partition, _) = outcome, let opaque else { return }
            delivered.withLock { $0[Int(bitPattern: opaque)] = partition }
        }
        defer { producer.close(flushTimeoutMilliseconds: 1_000) }
        let session = producer.session()
        for index in 1...200 {
            let topic = Array("mock.topic".utf8)
            let key = Array("player-\(index % 10)".utf8)
            try topic.withUnsafeBytes { topic in
                try key.withUnsafeBytes { key in
                    try [UInt8](repeating: 1, count: 10).withUnsafeBytes { value in
                        try session.produce(
                            topic: topic, key: key, value: value, timestamp: 0, headerCount: 0,
                            opaque: UnsafeMutableRawPointer(bitPattern: index)
                        ) { _ in }
                    }
                }
            }
        }
        try waitUntil("all 200 delivery reports arrived", timeout: 20) { delivered.withLock { $0.count } == 200 }
        #expect(producer.queueDepth == 0)
        // One key, one partition.
        let partitionsByKey = delivered.withLock { reports in
            Dictionary(grouping: reports, by: { $0.key % 10 }).mapValues { Set($0.map(\.value)) }
        }
        #expect(partitionsByKey.values.allSatisfy { $0.count == 1 })
    }

    @Test func unreachableBrokerFailsDeliveryAsRetriable() throws {
        var configuration = ProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.deliveryTimeoutMilliseconds = 300
        let failures = Mutex<[KafkaError]>([])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let producer = try KafkaProducer(configuration: configuration, logger: logger) { _, outcome in
            if case .failed(let error, _) = outcome { failures.withLock { $0.append(error) } }
        }
        defer { producer.close(flushTimeoutMilliseconds: 0) }
        try Array("t".utf8).withUnsafeBytes { topic in
            try Array("k".utf8).withUnsafeBytes { key in
                try producer.session().produce(
                    topic: topic, key: key, value: key, timestamp: 0, headerCount: 0, opaque: nil
                ) {
                    _ in
                }
            }
        }
        try waitUntil("the delivery report says the record failed", timeout: 10) { failures.withLock { !$0.isEmpty } }
        let error = try #require(failures.withLock { $0.first })
        #expect(error.code == .delivery)
        #expect(error.isRetriable, "\(error)")
    }
}
