/// Something registered with an `EventLoop`'s epoll set: told when its descriptor is ready.
protocol Pollable: AnyObject {
    /// Called on the loop's thread with the epoll bits that fired; the registration is disarmed.
    func ready(events: UInt32)
}
