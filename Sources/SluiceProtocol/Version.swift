/// This build's version, announced as `sluice/VERSION` in `HELLO_OK`.
public let sluiceVersion = "0.1.0"
