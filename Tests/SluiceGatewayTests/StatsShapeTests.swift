import Foundation
import SluiceProtocol
import SluiceTestSupport
import Testing

@Suite("STATS_REPLY has the shape of proto-spec/vectors/stats.json", .timeLimit(.minutes(1)))
struct StatsShapeTests {
    @Test func liveStatsMatchTheExampleDocument() throws {
        let gateway = try mockGateway()
        let client = try RawClient.handshaken(socketPath: gateway.socketPath)
        _ = try publishAndAwaitAck(client, [playerRecord(topic: "shape", player: "p", sequence: 0)])
        try client.send(Frame(.stats, requestID: 9, payload: []))
        guard case .statsReply(let text) = try client.read() else { throw TestFailure("expected STATS_REPLY") }
        let live = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let example = try JSONSerialization.jsonObject(
            with: Data(contentsOf: repositoryRoot.appendingPathComponent("proto-spec/vectors/stats.json")))
        let problems = shapeDifferences(example: example, live: live, path: "")
        #expect(problems.isEmpty, "\(problems)")
        let topics = (live as? [String: Any])?["topics"] as? [String: Any]
        #expect(
            (topics?["shape"] as? [String: Any])?.keys.sorted() == [
                "dlq", "dropped", "pending", "published", "received", "rejected",
            ])
    }

    /// Paths where `live` lacks a field of `example` or has another JSON type; maps (`errors`,
    /// `topics`) are checked value by value against the example's first value.
    func shapeDifferences(example: Any, live: Any, path: String) -> [String] {
        let optional: Set<String> = ["retry.oldestPendingAgeSeconds", "retry.secondsToEmpty"]
        if let example = example as? [String: Any] {
            guard let live = live as? [String: Any] else { return ["\(path): not an object"] }
            if path == "errors" || path == "topics" {
                guard let sample = example.values.first else { return [] }
                return live.flatMap { shapeDifferences(example: sample, live: $0.value, path: "\(path).\($0.key)") }
            }
            return example.flatMap { name, value -> [String] in
                let child = path.isEmpty ? name : "\(path).\(name)"
                guard let liveValue = live[name] else { return optional.contains(child) ? [] : ["\(child): missing"] }
                return shapeDifferences(example: value, live: liveValue, path: child)
            }
        }
        func kind(_ value: Any) -> String {
            if let number = value as? NSNumber {
                return String(cString: number.objCType) == "c" ? "bool" : "number"
            }
            return value is String ? "string" : "other"
        }
        return kind(example) == kind(live) ? [] : ["\(path): \(kind(live)), not \(kind(example))"]
    }
}
