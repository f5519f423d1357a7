/// The peer's header values, stamped into every record it publishes.
struct PeerStamp: Sendable {
    var uid: [UInt8]
    var pid: [UInt8]

    static let uidHeader: StaticString = "sluice-uid"
    static let pidHeader: StaticString = "sluice-pid"
}
