/// What a `Connection` tells the code that speaks the protocol; every call is on the loop's thread.
public protocol ConnectionHandler: AnyObject {
    /// Bytes read from the socket; they are valid only during the call.
    func connection(_ connection: Connection, received bytes: UnsafeRawBufferPointer)
    /// Reading resumed after a pause: requests already buffered can be processed now.
    func connectionResumed(_ connection: Connection)
    /// `connection.deadline` has passed.
    func connectionDeadlinePassed(_ connection: Connection)
    /// The socket is closed; no call follows.
    func connectionClosed(_ connection: Connection)
}
