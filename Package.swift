// swift-tools-version: 6.2
import Foundation
import PackageDescription

/// librdkafka 2.8.0 is built into `.deps/librdkafka` by `scripts/bootstrap.sh`; the rpath lets
/// every binary run without environment variables.
let rdkafkaLib = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent(".deps/librdkafka/lib").path
/// `make package` sets SLUICE_RPATH to `$ORIGIN/../lib/sluice`, where the package bundles librdkafka.
let rdkafkaRuntimePath = ProcessInfo.processInfo.environment["SLUICE_RPATH"] ?? rdkafkaLib
let rdkafkaRpath: [LinkerSetting] = [
    .unsafeFlags(["-L\(rdkafkaLib)", "-Xlinker", "-rpath", "-Xlinker", rdkafkaRuntimePath])
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceGateway", targets: ["SluiceGateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka"),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd"),
        // Clocks, errno text and directories: the one module every other module may import.
        .target(name: "SluiceSystem"),
        .target(name: "SluiceProtocol", dependencies: ["CZstd"]),
        // epoll and accept4 for the network layer: <sys/epoll.h> is not in Swift's Glibc module.
        .target(name: "CEpoll", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        // simdjson (Debian's libsimdjson-dev) behind a small C face: the JSON of topic contracts.
        .target(
            name: "CSimdJSON",
            cxxSettings: [.unsafeFlags(["-std=c++17", "-Wall", "-Wextra", "-Werror"])],
            linkerSettings: [.linkedLibrary("simdjson")]
        ),
        .target(
            name: "SluiceNetwork",
            dependencies: ["CEpoll", "SluiceSystem", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "SluiceKafka",
            dependencies: ["CRdKafka", "SluiceSystem", .product(name: "Logging", package: "swift-log")],
            linkerSettings: rdkafkaRpath
        ),
        .target(
            name: "SluiceSpool",
            dependencies: [
                "SluiceSystem", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "SluiceGateway",
            dependencies: [
                "SluiceProtocol", "SluiceNetwork", "SluiceKafka", "SluiceSpool", "SluiceSystem", "CSimdJSON",
                .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceGateway", "SluiceProtocol", "SluiceSpool", "SluiceSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // jemalloc replaces glibc's malloc in the gateway: librdkafka allocates and frees
            // several blocks per record on different threads, which glibc serves slowly
            // (docs/performance.md has the measurements).
            linkerSettings: rdkafkaRpath + [.linkedLibrary("jemalloc")]
        ),
        // The bundled C client, compiled from clients/c so Swift tests drive the real library.
        .target(
            name: "CSluiceClient",
            path: "clients/c",
            exclude: ["tests", "examples", "Makefile", "sluice.pc.in", "README.md"],
            sources: ["src"],
            publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("zstd")]
        ),
        // librdkafka's mock cluster for tests: the one module besides SluiceKafka that imports CRdKafka.
        .target(
            name: "SluiceKafkaForTesting", dependencies: ["CRdKafka"], path: "Tests/SluiceKafkaForTesting",
            linkerSettings: rdkafkaRpath
        ),
        .target(
            name: "SluiceTestSupport",
            dependencies: [
                "SluiceGateway", "SluiceKafka", "SluiceKafkaForTesting", "SluiceProtocol", "SluiceSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SluiceTestSupport",
            linkerSettings: rdkafkaRpath
        ),
        .testTarget(name: "SluiceProtocolTests", dependencies: ["SluiceProtocol"]),
        .testTarget(name: "SluiceNetworkTests", dependencies: ["SluiceNetwork"]),
        .testTarget(name: "SluiceSystemTests", dependencies: ["SluiceSystem"]),
        .testTarget(
            name: "SluiceSpoolTests", dependencies: ["SluiceSpool", "SluiceTestSupport"], exclude: ["Fixtures"],
            linkerSettings: rdkafkaRpath),
        .testTarget(
            name: "SluiceKafkaTests", dependencies: ["SluiceKafka", "SluiceKafkaForTesting", "SluiceTestSupport"],
            linkerSettings: rdkafkaRpath),
        .testTarget(
            name: "SluiceGatewayTests",
            dependencies: [
                "SluiceGateway", "SluiceProtocol", "SluiceKafka", "SluiceKafkaForTesting", "SluiceSystem",
                "SluiceTestSupport", .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            linkerSettings: rdkafkaRpath
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "SluiceGateway", "SluiceProtocol", "SluiceKafka", "SluiceKafkaForTesting", "SluiceSystem",
                "SluiceTestSupport", "CSluiceClient",
            ],
            linkerSettings: rdkafkaRpath
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Warnings are errors in every Swift target of this package (not in dependencies).
let cTargets: Set<String> = ["CSluiceClient", "CEpoll", "CSimdJSON"]
for target in package.targets where target.type != .system && !cTargets.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
}
