#if canImport(Glibc)
    import Glibc
#endif

/// The text of an `errno` value, as `strerror(3)` gives it: `errnoText()` reads `errno` at the call.
public func errnoText(_ number: Int32 = errno) -> String {
    String(cString: strerror(number))
}

/// A failed system call: what was attempted, on which path, and the `errno` it set.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// What was attempted, such as `cannot create`.
    public let operation: String
    /// The path the call was about.
    public let path: String
    /// The `errno` value the call set.
    public let number: Int32

    public init(_ operation: String, path: String, number: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.number = number
    }

    /// The `strerror(3)` text of `number`, such as `Permission denied`.
    public var reason: String { errnoText(number) }

    public var description: String { "\(operation) \(path): \(reason)" }
}
