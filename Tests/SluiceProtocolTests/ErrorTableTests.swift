import Foundation
import Testing

@testable import SluiceProtocol

/// One row of PROTOCOL.md section 5's table.
struct SpecErrorRow: Sendable {
    var code: UInt16
    var name: String
    /// `frame`, `record` or `both`.
    var place: String
    /// Whether an `ERROR` with it closes the connection; nil for record codes (`—`).
    var closes: Bool?
    var retriable: Bool

    static let all: [SpecErrorRow] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try! String(contentsOf: root.appendingPathComponent("proto-spec/PROTOCOL.md"), encoding: .utf8)
        var rows: [SpecErrorRow] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { inside = line.hasPrefix("## 5.") }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard inside, cells.count >= 6, let code = UInt16(cells[0]), cells[1].hasPrefix("`") else { continue }
            rows.append(
                SpecErrorRow(
                    code: code, name: cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`")), place: cells[2],
                    closes: cells[3] == "yes" ? true : cells[3] == "no" ? false : nil, retriable: cells[4] == "yes"))
        }
        return rows
    }()
}

@Suite("ErrorCode follows PROTOCOL.md section 5")
struct ErrorTableTests {
    @Test func everyCodeOfTheTableWithItsNameAndFlags() throws {
        #expect(SpecErrorRow.all.count >= 28)
        for row in SpecErrorRow.all {
            let code = try #require(ErrorCode(rawValue: row.code), "code \(row.code) \(row.name)")
            #expect(code.name == row.name)
            #expect(code.isRetriable == row.retriable, "\(row.name) retriable")
            if let closes = row.closes { #expect(code.closesConnection == closes, "\(row.name) closes") }
        }
        #expect(Set(ErrorCode.allCases.map(\.rawValue)) == Set(SpecErrorRow.all.map(\.code)), "no code the spec lacks")
    }

    @Test func theContractCodesArePerRecordAndFinal() {
        let rows = SpecErrorRow.all.filter { $0.code == 27 || $0.code == 28 }
        #expect(rows.map(\.name) == ["CONTRACT_VIOLATION", "UNKNOWN_TOPIC"])
        #expect(rows.allSatisfy { $0.place == "record" && !$0.retriable })
    }
}
