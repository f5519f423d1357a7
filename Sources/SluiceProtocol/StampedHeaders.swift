/// The headers the gateway stamps on the records it publishes, and the names reserved for them.
///
/// Which ones are stamped is the gateway's setting (`kafka.stamp-headers`, all four by
/// default); the names stay reserved whatever is stamped, so a client can never forge one.
/// The direct path (librdkafka) and the spool path both stamp through `stamp`, in the order
/// of `Header.allCases`.
public struct StampedHeaders: Sendable, Equatable {
    /// One stamped header; its raw value is the header's name.
    public enum Header: String, CaseIterable, Sendable {
        /// The record's event id, as 36 characters of lowercase UUID text.
        case eventID = "event-id"
        /// The record's event type as the client sent it (possibly empty).
        case eventType = "event-type"
        /// The publishing process's uid, from the socket's peer credentials, in decimal.
        case sluiceUID = "sluice-uid"
        /// The publishing process's pid, from the socket's peer credentials, in decimal.
        case sluicePID = "sluice-pid"

        var name: StaticString {
            switch self {
            case .eventID: "event-id"
            case .eventType: "event-type"
            case .sluiceUID: "sluice-uid"
            case .sluicePID: "sluice-pid"
            }
        }
    }

    /// The stamped headers, in stamping order.
    public let headers: [Header]

    /// Stamps `headers` (duplicates ignored) in the canonical order.
    public init(_ headers: some Sequence<Header>) {
        let chosen = Set(headers)
        self.headers = Header.allCases.filter { chosen.contains($0) }
    }

    /// All four: the default.
    public static let all = StampedHeaders(Header.allCases)
    /// None (`kafka.stamp-headers: []`).
    public static let none = StampedHeaders([])

    /// How many headers each record gets from the gateway.
    public var count: Int { headers.count }

    /// Whether the event id's text is needed (it costs a formatting per record).
    public var stampsEventID: Bool { headers.contains(.eventID) }

    /// The names, for configuration output and STATS.
    public var names: [String] { headers.map(\.rawValue) }

    /// The values of one publisher's uid and pid headers, made once per connection.
    public struct Publisher: Sendable {
        public var uid: [UInt8]
        public var pid: [UInt8]

        public init(uid: UInt32, pid: Int32) {
            self.uid = Array(String(uid).utf8)
            self.pid = Array(String(pid).utf8)
        }
    }

    /// Adds the stamped headers of one record through `add(name, value)`.
    ///
    /// `eventID` is the record's id, used only when `event-id` is stamped; `eventType` is the
    /// record's event type bytes.
    @inline(__always)
    public func stamp(
        eventID: EventID, eventType: UnsafeRawBufferPointer, publisher: Publisher,
        add: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void
    ) {
        for header in headers {
            header.name.withUTF8Buffer { nameBytes in
                let name = UnsafeRawBufferPointer(nameBytes)
                switch header {
                case .eventID:
                    withUnsafeTemporaryAllocation(byteCount: 36, alignment: 1) { text in
                        eventID.writeText(into: text)
                        add(name, UnsafeRawBufferPointer(text))
                    }
                case .eventType: add(name, eventType)
                case .sluiceUID: publisher.uid.withUnsafeBytes { add(name, $0) }
                case .sluicePID: publisher.pid.withUnsafeBytes { add(name, $0) }
                }
            }
        }
    }

    /// Adds every header `record` is published with: its own, then the stamped ones.
    @inline(__always)
    public func addHeaders(
        of record: RecordView, in batch: PublishBatch, bytes: UnsafeRawBufferPointer, eventID: EventID,
        publisher: Publisher, add: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void
    ) {
        batch.forEachHeader(of: record, add)
        let eventType = UnsafeRawBufferPointer(rebasing: bytes[record.eventType])
        stamp(eventID: eventID, eventType: eventType, publisher: publisher, add: add)
    }

    /// Whether a client may not send a header called `name`: `event-id`, `event-type` or any
    /// `sluice-*` name, without regard to ASCII case, stamped or not.
    public static func isReserved(_ name: some Collection<UInt8>) -> Bool {
        func lowered(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        func equals(_ text: StaticString, prefixOnly: Bool) -> Bool {
            let count = text.utf8CodeUnitCount
            guard prefixOnly ? name.count >= count : name.count == count else { return false }
            return text.withUTF8Buffer { expected in
                zip(name.prefix(count), expected).allSatisfy { lowered($0) == $1 }
            }
        }
        return equals("event-id", prefixOnly: false) || equals("event-type", prefixOnly: false)
            || equals("sluice-", prefixOnly: true)
    }
}
