import Foundation
import Logging
import SluiceSystem
import Synchronization

/// How `sluice serve` writes log lines to stderr: text for people, JSON lines for collectors.
enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// The level and format every `SluiceLogHandler` follows; a reload changes them for all loggers at once.
final class LogControl: Sendable {
    static let shared = LogControl()
    private let state = Mutex((level: Logger.Level.info, format: LogFormat.text))

    var level: Logger.Level { state.withLock { $0.level } }
    var format: LogFormat { state.withLock { $0.format } }

    func set(level: Logger.Level, format: LogFormat) { state.withLock { $0 = (level, format) } }
}

/// A swift-log handler writing one line per message with a millisecond UTC timestamp.
///
/// Text: `2026-11-30T06:10:00.123Z notice sluice: message key=value`. JSON: one object per line
/// with `ts`, `level`, `label`, `message` and each metadata field under its own name.
struct SluiceLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    /// Where the level and format come from, shared by every logger of the process.
    private let control: LogControl
    private let label: String
    private let sink: @Sendable (String) -> Void

    /// The process's level: setting it on one logger sets it for all (a reload does so).
    var logLevel: Logger.Level {
        get { control.level }
        set { control.set(level: newValue, format: control.format) }
    }

    /// A handler for `label`; lines go to `sink`, by default standard error.
    init(
        label: String, control: LogControl = .shared, sink: @escaping @Sendable (String) -> Void = writeToStandardError
    ) {
        self.label = label
        self.control = control
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
        switch control.format {
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
