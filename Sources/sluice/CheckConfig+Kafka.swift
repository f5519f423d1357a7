import Foundation
import SluiceGateway

extension CheckConfig {
    /// Prints the librdkafka properties passed through, secrets redacted, each with where its
    /// value came from (`${NAME}`, `-file`).
    func printKafkaProperties(_ settings: GatewayConfiguration) {
        let properties = settings.printableKafkaProperties
        guard !properties.isEmpty else { return }
        print("  librdkafka properties")
        for property in properties { print("    \(property.name) = \(property.value)") }
    }

    /// Warns on standard error about files holding secrets that every user may read.
    func warnAboutReadableSecrets(_ settings: GatewayConfiguration) {
        for warning in settings.secretFileWarnings(configFile: file) {
            FileHandle.standardError.write(Data("sluice check-config: warning: \(warning)\n".utf8))
        }
    }
}
