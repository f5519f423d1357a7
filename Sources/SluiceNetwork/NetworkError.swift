/// A failure to set up the network layer, with a reason an operator can act on.
public struct NetworkError: Error, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
