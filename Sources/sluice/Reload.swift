import ArgumentParser
import Foundation
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice reload`: has a running gateway re-read its configuration, and says what happened.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reload a running gateway's configuration (as SIGHUP does) and report the result.",
        discussion: """
            Sends SIGHUP to the process serving the socket (its pid from the socket's peer credentials), then \
            waits for the gateway to report the reload in STATS. Exit status: 0 when the new configuration is \
            applied, 1 when the gateway refused it (it keeps the old one; the reason is printed) or cannot be \
            reached.
            """)

    @OptionGroup var socket: SocketOption

    @Option(help: "Seconds to wait for the gateway to report the reload (a producer replacement drains first).")
    var timeout: Int = 60

    func run() throws {
        let client = try GatewayClient(socketPath: socket.path)
        let before = try ReloadState(client.stats())
        guard let credentials = peerCredentials(of: client.socketDescriptor), credentials.pid > 0 else {
            throw ClientError("cannot tell which process serves \(socket.path): \(errnoText())")
        }
        // A reload that was already under way ends before this one starts: wait for one that
        // ended after the signal.
        let signalledAt = Double(wallClockMilliseconds()) / 1_000
        guard kill(credentials.pid, SIGHUP) == 0 else {
            throw ClientError("cannot signal the gateway (pid \(credentials.pid)): \(errnoText())")
        }
        let deadline = monotonicMilliseconds() + Int64(timeout) * 1_000
        var after = before
        while after.reloads == before.reloads || (after.lastAt ?? 0) < signalledAt {
            guard monotonicMilliseconds() < deadline else {
                throw ClientError("the gateway (pid \(credentials.pid)) reported no reload within \(timeout) s")
            }
            usleep(50_000)  // polling a separate process's counters: there is nothing to wait on
            after = try ReloadState(client.stats())
        }
        guard after.result == "applied" else {
            FileHandle.standardError.write(
                Data("sluice reload: refused, still on generation \(after.generation): \(after.error ?? "")\n".utf8))
            throw ExitCode.failure
        }
        print("reloaded: generation \(after.generation)")
        print("applied: \(after.applied.isEmpty ? "nothing changed" : after.applied.joined(separator: ", "))")
        if !after.needsRestart.isEmpty { print("needs a restart: \(after.needsRestart.joined(separator: ", "))") }
    }
}

/// The `config` part of a STATS document.
private struct ReloadState: Equatable {
    var generation = 0
    var reloads = 0
    var result: String?
    var error: String?
    /// Unix time of the last reload, in seconds.
    var lastAt: Double?
    var applied: [String] = []
    var needsRestart: [String] = []

    init(_ document: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any],
            let config = object["config"] as? [String: Any]
        else { throw ClientError("the gateway's STATS has no config section (an older gateway?)") }
        generation = config["generation"] as? Int ?? 0
        reloads = (config["reloadsApplied"] as? Int ?? 0) + (config["reloadsFailed"] as? Int ?? 0)
        result = config["lastReloadResult"] as? String
        lastAt = config["lastReloadAt"] as? Double
        error = config["lastReloadError"] as? String
        applied = config["lastReloadApplied"] as? [String] ?? []
        needsRestart = config["lastReloadNeedsRestart"] as? [String] ?? []
    }
}
