import ArgumentParser
import Dispatch
import Foundation
import Logging
import SluiceGateway
import SluiceSystem

/// `sluice serve`: runs the gateway in the foreground until SIGTERM or SIGINT; SIGHUP reloads the configuration.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway.",
        discussion: """
            Settings come from the command line, then the environment (SLUICE_SOCKET, SLUICE_BROKERS, SLUICE_SPOOL), \
            then the --config file, then defaults. SIGHUP (or `sluice reload`) reads them again and applies \
            what changed; what needs a restart is logged.
            """)

    @Option(help: "Path of the Unix socket to serve (environment: SLUICE_SOCKET). Default: /run/sluice/sluice.sock.")
    var socket: String?

    @Option(
        help: "Kafka bootstrap servers, HOST:PORT[,HOST:PORT] (environment: SLUICE_BROKERS). Default: 127.0.0.1:9092.")
    var brokers: String?

    @Option(
        help:
            "SQLite spool file for records Kafka cannot take now (environment: SLUICE_SPOOL). Default: /var/lib/sluice/spool.db."
    )
    var spool: String?

    @Option(help: "YAML configuration file.")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (wins over the file's log.level).")
    var logLevel: String?

    @Option(
        help: "Log format on stderr: text, or json (one object per line, for log collectors; wins over log.format).")
    var logFormat: String?

    /// The settings from the command line, the environment, the file and the defaults, in that order.
    func settings() throws -> GatewayConfiguration {
        var settings = GatewayConfiguration()
        if let config { try settings.apply(yamlFile: config) }
        if let value = environment("SLUICE_SOCKET") { settings.socketPath = value }
        if let value = environment("SLUICE_BROKERS") { settings.producer.bootstrapServers = value }
        if let value = environment("SLUICE_SPOOL") { settings.spoolPath = value }
        if let socket { settings.socketPath = socket }
        if let spool { settings.spoolPath = spool }
        if let brokers { settings.producer.bootstrapServers = brokers }
        if let logLevel { settings.log.level = logLevel }
        if let logFormat { settings.log.format = logFormat }
        return settings
    }

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("unknown log level \(logLevel)")
        }
        if let logFormat, LogFormat(rawValue: logFormat) == nil {
            throw ValidationError("--log-format must be text or json")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in SluiceLogHandler(label: label) }
        let logger = Logger(label: "sluice")
        let settings = try self.settings()
        Self.applyLog(settings.log)
        let notifier = ServiceNotifier()

        let gateway: Gateway
        do {
            gateway = try Gateway(configuration: settings, logger: logger)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                notifier.notify("STOPPING=1")
                logger.notice("received signal \(number)")
                gateway.stop()
                Foundation.exit(0)
            }
            source.activate()
            return source
        }
        // SIGHUP (`sluice reload`, `systemctl reload`, a closed terminal) reloads instead of
        // killing the gateway, which is what its default action does.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler {
            logger.notice("received SIGHUP: reloading the configuration")
            notifier.notify("RELOADING=1")
            // The gateway logs what it applied, what waits for a restart, or why it refused the file.
            if (try? gateway.reload({ try self.settings() })) != nil { Self.applyLog(gateway.configuration.log) }
            notifier.notify("READY=1")
        }
        hangup.activate()
        // The socket listens: a Type=notify unit is started now, and its dependents may connect.
        notifier.notify("READY=1\nSTATUS=serving \(settings.socketPath)\nMAINPID=\(getpid())")
        let watchdog = notifier.watchdogMicroseconds.map { startWatchdog(every: $0, gateway, notifier, logger) }
        withExtendedLifetime((signals, hangup, watchdog)) { dispatchMain() }
    }

    /// Makes every logger follow `log`'s level and format (both validated before).
    private static func applyLog(_ log: LogConfiguration) {
        LogControl.shared.set(
            level: Logger.Level(rawValue: log.level) ?? .info, format: LogFormat(rawValue: log.format) ?? .text)
    }

    /// Sends `WATCHDOG=1` twice per watchdog interval while every event loop answers in time.
    private func startWatchdog(
        every microseconds: UInt64, _ gateway: Gateway, _ notifier: ServiceNotifier, _ logger: Logger
    ) -> WorkerThread {
        let period = max(1, Int(microseconds / 2_000))
        let thread = WorkerThread(name: "sluice-watchdog")
        thread.every(milliseconds: Int64(period), after: 0) {
            if gateway.loopsRespond(within: max(1, period / 2)) {
                notifier.notify("WATCHDOG=1")
            } else {
                logger.error("an event loop did not answer within \(period / 2) ms: not telling the watchdog")
            }
        }
        return thread
    }
}

func environment(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}
