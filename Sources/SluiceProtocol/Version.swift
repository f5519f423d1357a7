import CZstd

/// This build's version, announced as `sluice/VERSION` in `HELLO_OK`.
public let sluiceVersion = "0.2.0"

/// The version of the zstd library this process loaded, e.g. `1.5.4`.
public var zstdVersion: String { String(cString: ZSTD_versionString()) }
