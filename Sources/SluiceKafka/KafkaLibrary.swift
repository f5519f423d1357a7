import CRdKafka
import Foundation

/// The librdkafka this process loaded: its version and the file it came from.
public enum KafkaLibrary {
    /// The oldest librdkafka Sluice runs with: 2.0.x cannot parse ApiVersions v3 replies.
    public static let minimumVersion = 0x0201_0000

    /// The loaded library's version, e.g. `2.8.0`.
    public static var version: String { String(cString: rd_kafka_version_str()) }

    /// The loaded library's version as librdkafka encodes it: `0xMMmmrrpp`.
    public static var versionNumber: Int { Int(rd_kafka_version()) }

    /// Path of the shared object that holds librdkafka (from `/proc/self/maps`), or nil when
    /// it is linked in statically.
    public static var path: String? {
        // /proc files report a size of 0: read to the end rather than by size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? handle.close() }
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let file = line[slash...]
            if file.split(separator: "/").last?.hasPrefix("librdkafka.so") == true { return String(file) }
        }
        return nil
    }

    /// Throws when `versionNumber` is older than `minimumVersion`, saying what was loaded.
    public static func checkVersion(_ number: Int = versionNumber, name: String = version) throws(KafkaError) {
        guard number >= minimumVersion else {
            throw KafkaError(
                .configuration,
                reason: "librdkafka \(name) was loaded\(path.map { " from \($0)" } ?? ""); Sluice needs 2.1 or newer "
                    + "(2.0.x cannot talk to current brokers)")
        }
    }
}
