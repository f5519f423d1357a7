import Foundation
import SluiceKafka

#if canImport(Glibc)
    import Glibc
#endif

/// How `sluice tail` writes a record: one line each, as text or as a JSON object.
enum TailFormat {
    case text
    case json

    /// Appends `record` and a newline to `line`.
    func append(_ record: ConsumedRecord, to line: inout [UInt8]) {
        switch self {
        case .text: appendText(record, to: &line)
        case .json: appendJSON(record, to: &line)
        }
    }

    /// PARTITION, OFFSET, TIME, KEY, VALUE, then NAME=VALUE per header, separated by tabs;
    /// non-printable characters, invalid UTF-8, tabs and backslashes escaped.
    private func appendText(_ record: ConsumedRecord, to line: inout [UInt8]) {
        line += Array("\(record.partition)\t\(record.offset)\t".utf8)
        line += Array((record.timestamp.map(rfc3339) ?? "-").utf8)
        line.append(9)
        appendEscaped(record.key, to: &line)
        line.append(9)
        appendEscaped(record.value, to: &line)
        for header in record.headers {
            line.append(9)
            appendEscaped(Array(header.name.utf8), to: &line)
            line.append(UInt8(ascii: "="))
            appendEscaped(header.value, to: &line)
        }
        line.append(10)
    }

    /// `{"topic", "partition", "offset", "timestamp", "key", "value", "headers": [{"name", "value"}]}`;
    /// bytes that are not UTF-8 become `{"base64": "..."}`, a null key or value `null`.
    private func appendJSON(_ record: ConsumedRecord, to line: inout [UInt8]) {
        line += Array("{\"topic\":".utf8)
        appendJSONString(Array(record.topic.utf8), to: &line)
        line += Array(",\"partition\":\(record.partition),\"offset\":\(record.offset),\"timestamp\":".utf8)
        line += Array((record.timestamp.map(String.init) ?? "null").utf8)
        line += Array(",\"key\":".utf8)
        appendJSONBytes(record.keyIsNull ? nil : record.key, to: &line)
        line += Array(",\"value\":".utf8)
        appendJSONBytes(record.valueIsNull ? nil : record.value, to: &line)
        line += Array(",\"headers\":[".utf8)
        for (index, header) in record.headers.enumerated() {
            line += Array((index == 0 ? "{\"name\":" : ",{\"name\":").utf8)
            appendJSONString(Array(header.name.utf8), to: &line)
            line += Array(",\"value\":".utf8)
            appendJSONBytes(header.value, to: &line)
            line.append(UInt8(ascii: "}"))
        }
        line += Array("]}\n".utf8)
    }
}

/// Milliseconds since the epoch as `2024-05-01T12:00:00.123Z`.
func rfc3339(_ milliseconds: Int64) -> String {
    var seconds = time_t(milliseconds.quotient(dividingBy: 1_000))
    var parts = tm()
    gmtime_r(&seconds, &parts)
    return String(
        format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
        Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec),
        Int(milliseconds - milliseconds.quotient(dividingBy: 1_000) * 1_000))
}

extension Int64 {
    /// Division rounding towards minus infinity, so times before 1970 print correctly.
    fileprivate func quotient(dividingBy divisor: Int64) -> Int64 {
        self >= 0 ? self / divisor : -((-self + divisor - 1) / divisor)
    }
}

/// Walks `bytes` as UTF-8, handing each scalar with its encoded bytes, or each invalid byte with nil.
private func forEachScalar(_ bytes: [UInt8], _ body: (Unicode.Scalar?, ArraySlice<UInt8>) -> Void) {
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    var index = 0
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let encoded):
            body(Unicode.UTF8.decode(encoded), bytes[index..<index + encoded.count])
            index += encoded.count
        case .error(let length):
            for byte in index..<index + length { body(nil, bytes[byte...byte]) }
            index += length
        case .emptyInput:
            return
        }
    }
}

/// Whether a terminal could act on the character instead of showing it.
private func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned: true
    default: false
    }
}

/// Text as it is, except `\t \n \r \\`, `\xNN` for other control bytes and invalid UTF-8,
/// and `\u{N}` for other unprintable characters.
func appendEscaped(_ bytes: [UInt8], to line: inout [UInt8]) {
    forEachScalar(bytes) { scalar, encoded in
        guard let scalar else {
            line += Array(String(format: "\\x%02X", Int(encoded.first!)).utf8)
            return
        }
        switch scalar {
        case "\t": line += Array("\\t".utf8)
        case "\n": line += Array("\\n".utf8)
        case "\r": line += Array("\\r".utf8)
        case "\\": line += Array("\\\\".utf8)
        case _ where scalar.value < 0x80 && isUnprintable(scalar):
            line += Array(String(format: "\\x%02X", Int(scalar.value)).utf8)
        case _ where isUnprintable(scalar):
            line += Array("\\u{\(String(scalar.value, radix: 16, uppercase: true))}".utf8)
        default: line += encoded
        }
    }
}

/// Control characters (C0, DEL, C1) and the line and paragraph separators.
private func needsJSONEscape(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
}

/// A JSON string of UTF-8 text, control and separator characters escaped.
func appendJSONString(_ bytes: [UInt8], to line: inout [UInt8]) {
    line.append(UInt8(ascii: "\""))
    forEachScalar(bytes) { scalar, encoded in
        switch scalar {
        case "\"": line += Array("\\\"".utf8)
        case "\\": line += Array("\\\\".utf8)
        case "\n": line += Array("\\n".utf8)
        case "\t": line += Array("\\t".utf8)
        case "\r": line += Array("\\r".utf8)
        case .some(let scalar) where needsJSONEscape(scalar):
            line += Array(String(format: "\\u%04X", Int(scalar.value)).utf8)
        case .some: line += encoded
        case .none: line += Array("\u{FFFD}".utf8)  // not reached: callers check validity first
        }
    }
    line.append(UInt8(ascii: "\""))
}

/// A JSON string when `bytes` are UTF-8, `{"base64": "..."}` when not, `null` for nil.
func appendJSONBytes(_ bytes: [UInt8]?, to line: inout [UInt8]) {
    guard let bytes else {
        line += Array("null".utf8)
        return
    }
    if String(validating: bytes, as: UTF8.self) != nil {
        appendJSONString(bytes, to: &line)
    } else {
        line += Array("{\"base64\":\"\(Data(bytes).base64EncodedString())\"}".utf8)
    }
}

/// Standard output through a buffer, written with write(2) so a closed pipe ends the
/// command quietly instead of killing it with SIGPIPE.
struct TailOutput {
    private(set) var buffer: [UInt8] = []
    /// False once a write failed (the reader of the pipe went away).
    private(set) var isOpen = true

    init() { signal(SIGPIPE, SIG_IGN) }

    mutating func flush() {
        var written = 0
        while isOpen && written < buffer.count {
            let result = buffer[written...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if result > 0 {
                written += result
            } else if result < 0 && errno != EINTR {
                isOpen = false
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func append(_ record: ConsumedRecord, as format: TailFormat) {
        format.append(record, to: &buffer)
        if buffer.count >= 65_536 { flush() }
    }
}
