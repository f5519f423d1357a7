import Foundation
import SluiceKafka
import Yams

#if canImport(Glibc)
    import Glibc
#endif

/// Where a `kafka:` setting's value came from when the configuration file does not hold it.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    /// `${NAME}` references, replaced by these environment variables' values.
    case environment([String])
    /// `X-file: PATH`: the file's content, trailing newlines trimmed.
    case file(String)

    public var description: String {
        switch self {
        case .environment(let names): "from " + names.map { "$\($0)" }.joined(separator: ", ")
        case .file(let path): "from file \(path)"
        }
    }
}

/// The `kafka:` settings that came from the environment or from files, and the secret
/// librdkafka properties written in the configuration file itself.
public struct KafkaSettingSources: Sendable, Equatable {
    /// Per setting, named as under `kafka:` (a librdkafka property by its own name, also when
    /// it was given under `kafka.properties:`): where its value came from.
    public var sources: [String: SettingSource] = [:]
    /// Secret librdkafka properties (`KafkaSecrets.isSecret`) whose value is in the file.
    public var literalSecrets: [String] = []

    public init() {}
}

extension GatewayConfiguration {
    /// The `kafka:` section with `${NAME}` replaced from `environment` in every string and each
    /// `X-file: PATH` replaced by `X` with the file's content; records where values came from in
    /// `kafkaSources`. `$${` stands for a literal `${`.
    mutating func resolvingSecrets(
        in kafka: ConfigSection, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ConfigSection {
        var resolver = SecretResolver(environment: environment)
        let values = try resolver.resolve(kafka.values, path: kafka.path, relative: "")
        kafkaSources = KafkaSettingSources()
        kafkaSources.sources = resolver.sources
        return ConfigSection(values, path: kafka.path)
    }

    /// Notes the secret librdkafka properties that the file itself holds (not `${…}`, not `-file`).
    mutating func noteLiteralSecrets() {
        kafkaSources.literalSecrets = producer.properties.keys.sorted().filter {
            KafkaSecrets.isSecret($0) && kafkaSources.sources[$0] == nil
        }
    }

    /// The pass-through librdkafka properties as `check-config` prints them: secret values
    /// replaced by `<redacted>`, file contents by the file's name, each with where it came from.
    public var printableKafkaProperties: [(name: String, value: String)] {
        producer.properties.keys.sorted().map { name in
            let value = producer.properties[name] ?? ""
            let source = kafkaSources.sources[name]
            if KafkaSecrets.isSecret(name) {
                return (
                    name, "\(KafkaSecrets.redacted) (\(source?.description ?? "written in the configuration file"))"
                )
            }
            if case .file(let path) = source { return (name, "(\(value.utf8.count) bytes from file \(path))") }
            return (name, source.map { "\(value) (\($0))" } ?? value)
        }
    }

    /// Warnings for files holding secrets that every user of the host may read: `configFile`
    /// when it holds a secret itself, each `-file` of a secret property, and the private key
    /// or keystore that `ssl.key.location` or `ssl.keystore.location` names.
    public func secretFileWarnings(configFile: String?) -> [String] {
        var files: [(path: String, holds: String)] = []
        if let configFile, !kafkaSources.literalSecrets.isEmpty {
            let names = kafkaSources.literalSecrets.map { "kafka.\($0)" }.joined(separator: ", ")
            files.append((configFile, names))
        }
        for (name, source) in kafkaSources.sources.sorted(by: { $0.key < $1.key }) {
            if case .file(let path) = source, KafkaSecrets.isSecret(name) { files.append((path, "kafka.\(name)")) }
        }
        for name in ["ssl.key.location", "ssl.keystore.location"] {
            if let path = producer.properties[name] { files.append((path, "the private key of kafka.\(name)")) }
        }
        return files.compactMap { file in
            var status = stat()
            guard stat(file.path, &status) == 0, status.st_mode & S_IROTH != 0 else { return nil }
            let mode = String(status.st_mode & 0o777, radix: 8)
            return "\(file.path) holds \(file.holds) and every user may read it (mode 0\(mode)): "
                + "chmod o-r \(file.path), and let only root and the gateway's group read it (0640 root:sluice)"
        }
    }
}

/// Walks the `kafka:` section, replacing `${NAME}` and `X-file` keys.
struct SecretResolver {
    let environment: [String: String]
    var sources: [String: SettingSource] = [:]

    init(environment: [String: String]) { self.environment = environment }

    /// `path` names the mapping in errors (`kafka.`); `relative` names it in `sources`
    /// (empty at `kafka:` and for `kafka.properties:`, whose keys are librdkafka's names).
    mutating func resolve(_ values: [String: Any], path: String, relative: String) throws(ConfigurationError)
        -> [String: Any]
    {
        var result: [String: Any] = [:]
        for key in values.keys.sorted() {
            let value = values[key]!
            if key.hasSuffix("-file"), key.count > 5 {
                let target = String(key.dropLast(5))
                guard values[target] == nil else {
                    throw ConfigurationError("\(path)\(key) and \(path)\(target) are both set: keep one")
                }
                guard let raw = value as? String else { throw ConfigurationError("\(path)\(key) must be a file path") }
                let (file, _) = try substitute(raw, in: "\(path)\(key)")
                result[target] = try Self.read(file, for: "\(path)\(key)")
                sources[relative + target] = .file(file)
                continue
            }
            switch value {
            case let text as String:
                let (resolved, names) = try substitute(text, in: "\(path)\(key)")
                result[key] = resolved
                if !names.isEmpty { sources[relative + key] = .environment(names) }
            case let list as [Any]:
                var resolved: [Any] = []
                for item in list {
                    guard let text = item as? String else {
                        resolved.append(item)
                        continue
                    }
                    resolved.append(try substitute(text, in: "\(path)\(key)").value)
                }
                result[key] = resolved
            case let mapping as [String: Any]:
                let inner = key == "properties" && relative.isEmpty ? "" : "\(relative)\(key)."
                result[key] = try resolve(mapping, path: "\(path)\(key).", relative: inner)
            default:
                result[key] = value
            }
        }
        return result
    }

    /// `text` with each `${NAME}` replaced by the variable's value, and the names used.
    func substitute(_ text: String, in setting: String) throws(ConfigurationError) -> (value: String, names: [String]) {
        guard text.contains("$") else { return (text, []) }
        var result = ""
        var names: [String] = []
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("${") {
                result += "${"
                rest = after.dropFirst(2)
            } else if after.hasPrefix("{") {
                guard let close = after.firstIndex(of: "}") else {
                    throw ConfigurationError("\(setting): ${ without a closing } (write $${ for a literal ${)")
                }
                let name = String(after[after.index(after: after.startIndex)..<close])
                guard Self.isVariableName(name) else {
                    throw ConfigurationError("\(setting): ${\(name)} is not an environment variable name")
                }
                guard let value = environment[name] else {
                    throw ConfigurationError("\(setting): environment variable \(name) is not set")
                }
                result += value
                names.append(name)
                rest = after[after.index(after: close)...]
            } else {
                result += "$"
                rest = after
            }
        }
        return (result + rest, names)
    }

    /// ASCII letters, digits and `_`, not starting with a digit.
    static func isVariableName(_ name: String) -> Bool {
        let scalars = name.unicodeScalars
        guard let first = scalars.first, !("0"..."9").contains(first) else { return false }
        return scalars.allSatisfy {
            $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
        }
    }

    /// The file's content with trailing newlines trimmed.
    static func read(_ path: String, for setting: String) throws(ConfigurationError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ConfigurationError("\(setting): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count < 0 {
                throw ConfigurationError("\(setting): cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes += buffer[..<count]
            guard bytes.count <= 1 << 20 else {
                throw ConfigurationError("\(setting): \(path) is larger than 1 MiB; is it the right file?")
            }
        }
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError("\(setting): \(path) is not UTF-8 text")
        }
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}

/// A YAML syntax error without the line Yams quotes after it, which may hold a secret
/// (`sasl.password: @x` is not valid YAML): the position and the problem only.
func yamlSyntaxError(_ error: any Error) -> String {
    guard let error = error as? YamlError else { return "\(error)" }
    func text(_ context: YamlError.Context?, _ problem: String, _ mark: Mark) -> String {
        let within = context.map { "\($0.text) in line \($0.mark.line), column \($0.mark.column): " } ?? ""
        return "line \(mark.line), column \(mark.column): \(within)\(problem)"
    }
    switch error {
    case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
        .composer(let context, let problem, let mark, _):
        return text(context, problem, mark)
    case .reader(let problem, let offset, _, _):
        return "\(problem) at byte \(offset.map(String.init) ?? "?")"
    case .duplicatedKeysInMapping(let duplicates, let context):
        return "line \(context.mark.line): duplicated keys \(duplicates.sorted().joined(separator: ", "))"
    default:
        return "\(error)"
    }
}
