import ArgumentParser
import Foundation
import SluiceSpool
import SluiceSystem

/// `sluice spool`: look at and repair the spool, also while a gateway runs on it.
struct SpoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Inspect and repair the spool (safe on a running gateway's spool).",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct SpoolOption: ParsableArguments {
        @Option(help: "The spool file (environment: SLUICE_SPOOL). Default: /var/lib/sluice/spool.db.")
        var spool: String?

        func open() throws -> Spool {
            let path = spool ?? environment("SLUICE_SPOOL") ?? "/var/lib/sluice/spool.db"
            guard FileManager.default.fileExists(atPath: path) else { throw ClientError("no spool at \(path)") }
            return try Spool(path: path)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List records by status, topic or key.")
        @OptionGroup var spool: SpoolOption
        @Option(help: "PENDING, DLQ or DLQ_FAILED (delivered records leave the spool).") var status: String?
        @Option(help: "Only this topic.") var topic: String?
        @Option(help: "Only this key.") var key: String?
        @Option(help: "At most this many records.") var limit = 100

        func run() throws {
            let filter = try status.map { name in
                guard let status = SpoolStatus(rawValue: name.uppercased()) else {
                    throw ValidationError("unknown status \(name)")
                }
                return status
            }
            let records = try spool.open().list(
                status: filter, topic: topic, key: key.map { Array($0.utf8) }, limit: limit)
            print("id\tstatus\tattempts\ttopic\tkey\tevent id\tlast error")
            for r in records {
                let key = String(decoding: r.record.key, as: UTF8.self)
                print(
                    "\(r.id)\t\(r.status.rawValue)\t\(r.attempts)\t\(r.record.topic)\t\(key)\t\(r.record.eventID)\t\(r.lastError ?? "")"
                )
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one record.")
        @OptionGroup var spool: SpoolOption
        @Argument(help: "The record's id.") var id: Int64

        func run() throws {
            guard let r = try spool.open().record(id: id) else { throw ClientError("no record \(id)") }
            print("id:           \(r.id)")
            print("status:       \(r.status.rawValue)")
            print("topic:        \(r.record.topic)")
            print("key:          \(String(decoding: r.record.key, as: UTF8.self))")
            print("event id:     \(r.record.eventID)")
            print("attempts:     \(r.attempts)")
            print("created:      \(Date(timeIntervalSince1970: Double(r.createdAt) / 1000))")
            print(
                "next retry:   \(r.nextRetryAt == 0 ? "at once" : "\(Date(timeIntervalSince1970: Double(r.nextRetryAt) / 1000))")"
            )
            print("last error:   \(r.lastError ?? "-")")
            print("client:       \(r.record.client)")
            for header in r.record.headers {
                print("header:       \(header.name)=\(String(decoding: header.value, as: UTF8.self))")
            }
            print("value:        \(String(decoding: r.record.value, as: UTF8.self))")
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put DLQ and DLQ_FAILED records back to PENDING (attempts reset).")
        @OptionGroup var spool: SpoolOption
        @Option(help: "Only this topic.") var topic: String?
        @Argument(help: "Record ids; none means every DLQ and DLQ_FAILED record (of --topic).") var ids: [Int64] = []

        func run() throws {
            let count = try spool.open().replay(ids: ids.isEmpty ? nil : ids, topic: topic)
            print("replayed \(count) records; a running gateway delivers them on its next retry round")
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete DLQ records (already in {topic}.dlq) older than an age; DLQ_FAILED ones are kept.")
        @OptionGroup var spool: SpoolOption
        @Option(help: "Minimum age, e.g. 30m, 12h, 7d.") var olderThan: String

        func run() throws {
            guard let unit = olderThan.last, let amount = Double(olderThan.dropLast()),
                let seconds = ["s": 1.0, "m": 60, "h": 3_600, "d": 86_400][String(unit)]
            else { throw ValidationError("--older-than takes a number and s, m, h or d, e.g. 7d") }
            let cutoff = wallClockMilliseconds() - Int64(amount * seconds * 1000)
            print("purged \(try spool.open().purgeDeadLettered(olderThan: cutoff)) dead-lettered records")
        }
    }
}
