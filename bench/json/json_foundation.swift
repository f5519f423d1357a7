// The JSON cost of a topic contract with Foundation (docs/contracts.md, "Cost"): parse the seed's
// envelope (bench/workload.h --envelope, 224 bytes) and read the six fields the MyNewEvent contract
// checks, with JSONSerialization and with JSONDecoder. Build: swiftc -O json_foundation.swift.
import Foundation

let text = """
    {"eventId":"00000000-0000-4000-8000-000001234567","eventType":"MY_NEW_EVENT",\
    "eventTimestamp":"2024-05-01T12:00:00.000Z","brandId":"brand-7","userId":"player-002410",\
    "metadata":{"source":"bench"},"payload":{"data":"N1P_XN"}}
    """
let bytes = Data(text.utf8)
let key = "player-002410"
let rounds = 200_000

func measure(_ name: String, _ body: () -> Bool) {
    var best = Double.infinity
    for _ in 0..<3 {
        var kept = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds where body() { kept += 1 }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds)
        precondition(kept == rounds)
        best = min(best, elapsed)
    }
    print("\(name): \(bytes.count) bytes, \(String(format: "%.0f", best)) ns per event (best of 3)")
}

measure("JSONSerialization, 6 fields") {
    guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else { return false }
    return object["userId"] as? String == key && object["eventType"] as? String == "MY_NEW_EVENT"
        && object["eventId"] is String && object["eventTimestamp"] is String && object["brandId"] is String
        && object["payload"] is [String: Any]
}

struct Envelope: Decodable {
    var eventId, eventType, eventTimestamp, brandId, userId: String
    var payload: [String: String]
}
let decoder = JSONDecoder()
measure("JSONDecoder, 6 fields") {
    guard let envelope = try? decoder.decode(Envelope.self, from: bytes) else { return false }
    return envelope.userId == key && envelope.eventType == "MY_NEW_EVENT"
}
