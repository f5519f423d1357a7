import Foundation
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Tells a service manager about the daemon's state over `$NOTIFY_SOCKET` (systemd's `sd_notify`).
struct ServiceNotifier: Sendable {
    /// The datagram socket's path; a leading `@` names an abstract socket.
    let socketPath: String?

    /// How often the service manager expects `WATCHDOG=1` (`WatchdogSec=`), in microseconds.
    let watchdogMicroseconds: UInt64?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        // WATCHDOG_PID, when set, names the process the watchdog is for.
        let forThisProcess = environment["WATCHDOG_PID"].map { $0 == String(getpid()) } ?? true
        watchdogMicroseconds =
            forThisProcess ? environment["WATCHDOG_USEC"].flatMap(UInt64.init).flatMap { $0 > 0 ? $0 : nil } : nil
    }

    /// Sends `state` (e.g. `READY=1`); false when there is no socket or the send failed.
    @discardableResult
    func notify(_ state: String) -> Bool {
        guard let socketPath else { return false }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        guard let address = UnixSocketAddress(socketPath) else { return false }
        let sent = state.utf8CString.withUnsafeBufferPointer { text in
            address.withSockaddr { sendto(descriptor, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, $1) }
        }
        return sent >= 0
    }
}
