import ArgumentParser
import Foundation
import SluiceGateway

/// `sluice check-config FILE`: validates a configuration file without starting anything.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file without starting the gateway.",
        discussion: """
            Reads FILE over the defaults, checks every setting (librdkafka properties included, by librdkafka \\
            itself) and prints the main effective settings, secret values redacted. Warns about files holding \
            secrets that every user may read. Exit status 0 when the file is valid, 1 otherwise.
            """)

    @Argument(help: "The YAML configuration file.")
    var file: String

    func run() throws {
        var settings = GatewayConfiguration()
        do {
            try settings.apply(yamlFile: file)
            try settings.validate()
        } catch {
            FileHandle.standardError.write(Data("sluice check-config: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
        print("\(file): valid")
        print("  socket    \(settings.socketPath) (mode \(String(settings.socketMode, radix: 8)))")
        print("  brokers   \(settings.producer.bootstrapServers)")
        let stamped = settings.stampHeaders.names
        print("  headers   \(stamped.isEmpty ? "none stamped ([])" : stamped.joined(separator: ", "))")
        print("  spool     \(settings.spoolPath) (at most \(settings.spoolMaxBytes) bytes)")
        print("  metrics   \(settings.metricsListen.map { "http://\($0)/metrics" } ?? "off")")
        printKafkaProperties(settings)
        printTopics(settings.topics)
        warnAboutReadableSecrets(settings)
    }
}
