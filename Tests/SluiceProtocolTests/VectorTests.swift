import Foundation
import Testing

@testable import SluiceProtocol

/// One line of `proto-spec/vectors/frames.tsv`.
struct Vector: CustomTestStringConvertible, Sendable {
    var name: String
    var direction: String
    var expect: String
    var frame: [UInt8]
    var plain: [UInt8]?
    /// For a c2s error: the request id the `ERROR` carries and whether it closes the connection.
    var reply: (requestID: UInt32, closes: Bool)?

    var testDescription: String { name }

    static let all: [Vector] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = root.appendingPathComponent("proto-spec/vectors/frames.tsv")
        let text = try! String(contentsOf: file, encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            precondition(fields.count == 6, "bad vector line: \(line.prefix(80))")
            let reply = fields[5].split(separator: ",")
            return Vector(
                name: fields[0], direction: fields[1], expect: fields[2], frame: hex(fields[3]),
                plain: fields[4] == "-" ? nil : hex(fields[4]),
                reply: fields[5] == "-" ? nil : (UInt32(reply[0])!, reply[1] == "close"))
        }
    }()

    static func named(_ name: String) -> Vector { all.first { $0.name == name }! }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count / 2)
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(UInt8(nibble(high) << 4 | nibble(low)))
    }
    return bytes
}

private func nibble(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    default: c - UInt8(ascii: "a") + 10
    }
}

/// How a test feeds a vector's bytes to a decoder.
enum Split: CaseIterable, Sendable {
    case whole, byteAtATime, random1, random2, random3

    func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
        switch self {
        case .whole: return [bytes]
        case .byteAtATime: return bytes.map { [$0] }
        case .random1, .random2, .random3:
            var generator = SeededGenerator(seed: UInt64(bytes.count) &* 31 &+ UInt64("\(self)".hashValue & 0xFF))
            var chunks: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let size = Int.random(in: 1...max(1, min(64, bytes.count - offset)), using: &generator)
                chunks.append(Array(bytes[offset..<(offset + size)]))
                offset += size
            }
            return chunks
        }
    }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// What a decoder did with a vector.
enum Outcome: Equatable, CustomStringConvertible {
    case ok
    case records([UInt16])
    case error(UInt16)
    case incomplete

    init(expect: String) {
        if expect == "ok" {
            self = .ok
        } else if expect == "incomplete" {
            self = .incomplete
        } else if expect.hasPrefix("records:") {
            self = .records(expect.dropFirst(8).split(separator: ",").map { UInt16($0)! })
        } else {
            precondition(expect.hasPrefix("error:"))
            self = .error(UInt16(expect.dropFirst(6))!)
        }
    }

    var description: String {
        switch self {
        case .ok: "ok"
        case .records(let codes): "records:\(codes.map(String.init).joined(separator: ","))"
        case .error(let code): "error:\(code)"
        case .incomplete: "incomplete"
        }
    }
}

@Suite("Protocol test vectors")
struct VectorTests {
    static let clientVectors = Vector.all.filter { $0.direction == "c2s" }
    static let serverVectors = Vector.all.filter { $0.direction == "s2c" }

    @Test("vectors file is present and covers both directions")
    func vectorsLoaded() {
        #expect(Self.clientVectors.count >= 70)
        #expect(Self.clientVectors.allSatisfy { $0.expect.hasPrefix("error:") == ($0.reply != nil) })
        #expect(Self.serverVectors.count >= 15)
    }

    @Test("server decodes client frames as the vector says", arguments: clientVectors, Split.allCases)
    func serverSide(vector: Vector, split: Split) throws {
        var session = ServerSession(limits: Limits())
        if !vector.name.hasPrefix("hello") {
            session.feed(Vector.named("hello_v1").frame)
            guard case .hello = try session.next() else {
                Issue.record("handshake failed")
                return
            }
        }
        var requests: [ServerSession.Request] = []
        var failure: ProtocolError?
        outer: for chunk in split.chunks(vector.frame) {
            session.feed(chunk)
            while true {
                do {
                    guard let request = try session.next() else { break }
                    requests.append(request)
                } catch {
                    failure = error
                    break outer
                }
            }
        }
        let outcome: Outcome
        if let failure {
            outcome = .error(failure.code.rawValue)
        } else if requests.isEmpty {
            outcome = .incomplete
        } else {
            #expect(requests.count == 1, "one frame, one request")
            if case .publish(let batch, _) = requests[0] {
                if let plain = vector.plain { #expect(batch.payload == plain, "decompressed payload") }
                let codes = batch.records.map { $0.error?.rawValue ?? 0 }
                outcome = codes.allSatisfy { $0 == 0 } && !vector.expect.hasPrefix("records") ? .ok : .records(codes)
            } else {
                outcome = .ok
            }
        }
        #expect(outcome == Outcome(expect: vector.expect), "\(vector.name) split \(split)")
        if case .incomplete = outcome { #expect(session.bufferedCount <= vector.frame.count) }
        if let failure, let reply = vector.reply {
            #expect(failure.requestID == reply.requestID, "\(vector.name): ERROR request id")
            #expect(failure.closesConnection == reply.closes, "\(vector.name): ERROR closes the connection")
            // After a closing error the session decodes nothing more; after another, it goes on.
            session.feed(Vector.named("ping_hi").frame)
            let next = try? session.next()
            if reply.closes {
                #expect(next == nil, "\(vector.name): the session ended")
            } else if case .ping = next {
            } else {
                Issue.record("\(vector.name): a PING after a non-closing error must be served")
            }
        }
    }

    @Test("client decodes server frames as the vector says", arguments: serverVectors, Split.allCases)
    func clientSide(vector: Vector, split: Split) {
        var decoder = FrameDecoder(role: .client)
        var messages: [ServerMessage] = []
        var failure: ProtocolError?
        outer: for chunk in split.chunks(vector.frame) {
            decoder.feed(chunk)
            while true {
                do {
                    guard let frame = try decoder.next() else { break }
                    messages.append(try ServerMessage(frame: frame))
                } catch {
                    failure = error
                    break outer
                }
            }
        }
        let outcome: Outcome =
            if let failure { .error(failure.code.rawValue) } else if messages.isEmpty { .incomplete } else { .ok }
        #expect(outcome == Outcome(expect: vector.expect), "\(vector.name) split \(split)")
    }
}
