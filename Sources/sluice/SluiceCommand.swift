import ArgumentParser
import SluiceGateway

@main
struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A local event gateway to Kafka: clients publish over a Unix socket, Sluice delivers.",
        version: LibraryVersions().lines.joined(separator: "\n"),
        subcommands: [Serve.self, Reload.self, Send.self, Stats.self, Tail.self, SpoolCommand.self, CheckConfig.self]
    )
}

/// The socket option shared by the client commands.
struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "Path of the gateway's Unix socket (environment: SLUICE_SOCKET).")
    var socket: String?

    var path: String { socket ?? environment("SLUICE_SOCKET") ?? "/run/sluice/sluice.sock" }
}
