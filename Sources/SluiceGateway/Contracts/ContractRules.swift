import CSimdJSON
import Glibc
import SluiceProtocol

/// One contract compiled for checking: its pointers in one buffer for simdjson, its event
/// types as bytes.
///
/// Rules are checked cheapest first and the first broken one is reported: `max-value-bytes`,
/// `event-types`, then (one parse of the value) `value`, `key-from`, `event-type-from`,
/// `required` in list order.
///
/// A class: the check holds one per run of same-topic records, without copying its arrays.
final class ContractRules: Sendable {
    let mode: ContractMode
    private let maxValueBytes: Int?
    private let eventTypes: [[UInt8]]?
    private let needsJSON: Bool
    /// The distinct pointers the rules read, as text, and as one buffer cut by lengths.
    private let pointers: [String]
    private let pointerBytes: [CChar]
    private let pointerLengths: [UInt32]
    /// Index into `pointers` of `key-from` and of `event-type-from`.
    private let keySlot: Int?
    private let eventTypeSlot: Int?
    private let required: [(slot: Int, type: JSONValueType?)]

    init(_ contract: TopicContract) {
        mode = contract.mode
        maxValueBytes = contract.maxValueBytes
        eventTypes = contract.eventTypes?.map { Array($0.utf8) }
        needsJSON = contract.needsJSON
        var pointers: [String] = []
        func slot(_ pointer: String) -> Int {
            if let index = pointers.firstIndex(of: pointer) { return index }
            pointers.append(pointer)
            return pointers.count - 1
        }
        keySlot = contract.keyFrom.map(slot)
        eventTypeSlot = contract.eventTypeFrom.map(slot)
        required = contract.required.map { (slot($0.pointer), $0.type) }
        self.pointers = pointers
        pointerBytes = pointers.flatMap { $0.utf8.map { CChar(bitPattern: $0) } }
        pointerLengths = pointers.map { UInt32($0.utf8.count) }
    }

    /// The first rule `record` breaks and what was wrong, or nil when it keeps them all.
    func check(_ record: RecordView, in bytes: UnsafeRawBufferPointer) -> (ContractRule, String)? {
        let value = UnsafeRawBufferPointer(rebasing: bytes[record.value])
        let eventType = UnsafeRawBufferPointer(rebasing: bytes[record.eventType])
        if let maxValueBytes, value.count > maxValueBytes {
            return (.maxValueBytes, "value is \(value.count) bytes, over max-value-bytes \(maxValueBytes)")
        }
        if let eventTypes, !eventTypes.contains(where: { $0.withUnsafeBytes { sameBytes($0, eventType) } }) {
            let allowed = eventTypes.prefix(5).map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ")
            return (
                .eventTypes,
                "event type \(quoted(eventType)) is not one of \(allowed)\(eventTypes.count > 5 ? ", …" : "")"
            )
        }
        guard needsJSON else { return nil }
        return withUnsafeTemporaryAllocation(of: sluice_json_found.self, capacity: max(1, pointers.count)) { found in
            let result = pointerBytes.withUnsafeBufferPointer { text in
                pointerLengths.withUnsafeBufferPointer { lengths in
                    sluice_json_find(
                        value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count, text.baseAddress,
                        lengths.baseAddress, pointers.count, found.baseAddress)
                }
            }
            if result < 0 { return (.value, "value is not JSON: \(String(cString: sluice_json_error_text(result)))") }
            if result > 0 { return (.value, "value is \(article(Int32(result))), not a JSON object") }
            return checkFields(
                found, record: record, key: UnsafeRawBufferPointer(rebasing: bytes[record.key]),
                eventType: eventType)
        }
    }

    private func checkFields(
        _ found: UnsafeMutableBufferPointer<sluice_json_found>, record: RecordView, key: UnsafeRawBufferPointer,
        eventType: UnsafeRawBufferPointer
    ) -> (ContractRule, String)? {
        if let keySlot {
            let field = found[keySlot]
            let pointer = pointers[keySlot]
            if field.kind == Int32(SLUICE_JSON_MISSING.rawValue) {
                return (.keyFrom, "key \(quoted(key)): \(pointer) is missing")
            }
            guard field.kind == Int32(SLUICE_JSON_STRING.rawValue) || field.kind == Int32(SLUICE_JSON_INTEGER.rawValue)
            else {
                return (.keyFrom, "key \(quoted(key)): \(pointer) is \(describe(field.kind)), not a string or integer")
            }
            let text = UnsafeRawBufferPointer(start: field.text, count: field.length)
            if !sameBytes(text, key) { return (.keyFrom, "key \(quoted(key)) is not \(pointer) \(quoted(text))") }
        }
        if let eventTypeSlot {
            let field = found[eventTypeSlot]
            let pointer = pointers[eventTypeSlot]
            if field.kind == Int32(SLUICE_JSON_MISSING.rawValue) {
                return (.eventTypeFrom, "event type \(quoted(eventType)): \(pointer) is missing")
            }
            guard field.kind == Int32(SLUICE_JSON_STRING.rawValue) else {
                return (
                    .eventTypeFrom,
                    "event type \(quoted(eventType)): \(pointer) is \(describe(field.kind)), not a string"
                )
            }
            let text = UnsafeRawBufferPointer(start: field.text, count: field.length)
            if !sameBytes(text, eventType) {
                return (.eventTypeFrom, "event type \(quoted(eventType)) is not \(pointer) \(quoted(text))")
            }
        }
        for (slot, type) in required {
            let kind = found[slot].kind
            if kind == Int32(SLUICE_JSON_MISSING.rawValue) { return (.required, "\(pointers[slot]) is missing") }
            if let type, !Self.kind(kind, is: type) {
                return (
                    .required,
                    "\(pointers[slot]) is \(describe(kind)), not \(type.rawValue == "integer" || type.rawValue == "array" || type.rawValue == "object" ? "an" : "a") \(type.rawValue)"
                )
            }
        }
        return nil
    }

    private static func kind(_ kind: Int32, is type: JSONValueType) -> Bool {
        switch type {
        case .string: kind == Int32(SLUICE_JSON_STRING.rawValue)
        case .number: kind == Int32(SLUICE_JSON_NUMBER.rawValue) || kind == Int32(SLUICE_JSON_INTEGER.rawValue)
        case .integer: kind == Int32(SLUICE_JSON_INTEGER.rawValue)
        case .boolean: kind == Int32(SLUICE_JSON_BOOLEAN.rawValue)
        case .object: kind == Int32(SLUICE_JSON_OBJECT.rawValue)
        case .array: kind == Int32(SLUICE_JSON_ARRAY.rawValue)
        case .null: kind == Int32(SLUICE_JSON_NULL.rawValue)
        }
    }
}

/// What a pointer found, for messages: "missing", "a string", "an object".
private func describe(_ kind: Int32) -> String {
    kind == Int32(SLUICE_JSON_MISSING.rawValue) ? "missing" : article(kind)
}

private func article(_ kind: Int32) -> String {
    switch UInt32(bitPattern: kind) {
    case SLUICE_JSON_STRING.rawValue: "a string"
    case SLUICE_JSON_INTEGER.rawValue: "an integer"
    case SLUICE_JSON_NUMBER.rawValue: "a number"
    case SLUICE_JSON_BOOLEAN.rawValue: "a boolean"
    case SLUICE_JSON_NULL.rawValue: "null"
    case SLUICE_JSON_OBJECT.rawValue: "an object"
    case SLUICE_JSON_ARRAY.rawValue: "an array"
    default: "nothing"
    }
}

/// Whether `a` and `b` hold the same bytes.
func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

/// `bytes` as a quoted string for a message: escaped, cut after 24 characters with `…`.
func quoted(_ bytes: UnsafeRawBufferPointer) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    let shown = text.count > 24 ? text.prefix(24) + "…" : Substring(text)
    return "\"" + shown.unicodeScalars.map { $0 == "…" ? "…" : $0.escaped(asASCII: false) }.joined() + "\""
}
