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
        let problems = shapeDifferences(example: example, live: live, path: "", pattern: "")
        #expect(problems.isEmpty, "\(problems)")
        let topics = (live as? [String: Any])?["topics"] as? [String: Any]
        #expect(
            (topics?["shape"] as? [String: Any])?.keys.sorted() == [
                "dlq", "dropped", "pending", "published", "received", "rejected",
            ])
    }

    /// Objects whose keys are names (an error, a topic, a rule): each value has the shape of the example's first.
    static let maps: Set<String> = ["errors", "topics", "contracts.violations", "contracts.violations.*"]
    /// Fields a live reply may lack (PROTOCOL.md section 3.5 says when they are absent).
    static let mayBeAbsent: Set<String> = [
        "retry.oldestPendingAgeSeconds", "retry.secondsToEmpty", "config.lastReloadAt", "config.lastReloadResult",
        "config.lastReloadError", "config.lastReloadApplied", "config.lastReloadNeedsRestart",
    ]
    /// Fields a live reply may have that the example, showing an applied reload, cannot.
    static let notInExample: Set<String> = ["config.lastReloadError"]

    /// Differences both ways: a field of `example` that `live` lacks, a field of `live` that
    /// the example lacks (it is complete), or another JSON type. `pattern` is `path` with map
    /// keys as `*`.
    func shapeDifferences(example: Any, live: Any, path: String, pattern: String) -> [String] {
        if let example = example as? [String: Any] {
            guard let live = live as? [String: Any] else { return ["\(path): not an object"] }
            if Self.maps.contains(pattern) {
                guard let sample = example.values.first else { return ["\(path): the example has no entry"] }
                return live.flatMap {
                    shapeDifferences(
                        example: sample, live: $0.value, path: "\(path).\($0.key)", pattern: pattern + ".*")
                }
            }
            func child(_ base: String, _ name: String) -> String { base.isEmpty ? name : "\(base).\(name)" }
            let extra = live.keys.filter { example[$0] == nil && !Self.notInExample.contains(child(pattern, $0)) }
            return extra.map { "\(child(path, $0)): missing from stats.json" }
                + example.flatMap { name, value -> [String] in
                    guard let liveValue = live[name] else {
                        return Self.mayBeAbsent.contains(child(pattern, name)) ? [] : ["\(child(path, name)): missing"]
                    }
                    return shapeDifferences(
                        example: value, live: liveValue, path: child(path, name), pattern: child(pattern, name))
                }
        }
        func kind(_ value: Any) -> String {
            if let number = value as? NSNumber {
                return String(cString: number.objCType) == "c" ? "bool" : "number"
            }
            return value is String ? "string" : value is [Any] ? "array" : "other"
        }
        return kind(example) == kind(live) ? [] : ["\(path): \(kind(live)), not \(kind(example))"]
    }
}
