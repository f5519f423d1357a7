import Foundation
import Logging
import SluiceSystem
import Synchronization

/// How `sluice serve` writes log lines to stderr: text for people, JSON lines for collectors.
enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// A swift-log handler writing one line per message with a millisecond UTC timestamp.
///
/// Text: `2026-11-30T06:10:00.123Z notice sluice: message key=value`. JSON: one object per line
/// with `ts`, `level`, `label`, `message` and each metadata field under its own name.
struct SluiceLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    private let label: String
    private let format: LogFormat
    private let sink: @Sendable (String) -> Void

    /// A handler for `label`; lines go to `sink`, by default standard error.
    init(label: String, format: LogFormat, sink: @escaping @Sendable (String) -> Void = writeToStandardError) {
        self.label = label
        self.format = format
        self.sink = sink
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let time = timestamp()
        switch format {
        case .text:
            var line = "\(time) \(event.level) \(label): \(event.message)"
            for key in fields.keys.sorted() { line += " \(key)=\(fields[key]!)" }
            sink(line + "\n")
        case .json:
            var object: [String: Any] = [:]
            for (key, value) in fields { object[key] = plain(value) }
            object["ts"] = time
            object["level"] = event.level.rawValue
            object["label"] = label
            object["message"] = "\(event.message)"
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                sink(String(decoding: data, as: UTF8.self) + "\n")
            }
        }
    }

    private func plain(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(plain)
        case .dictionary(let values): values.mapValues(plain)
        }
    }
}

/// Writes a whole line to standard error in one call, so lines from threads do not interleave.
func writeToStandardError(_ line: String) {
    var line = line
    line.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}

/// `2026-11-30T06:10:00.123Z`: UTC with milliseconds.
private func timestamp() -> String {
    let now = wallClockMilliseconds()
    var seconds = time_t(now / 1_000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let millis = now % 1_000
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
}
