package io.sluice.client;

/**
 * The limits a gateway announced in HELLO_OK (PROTOCOL.md section 3.1), or the protocol's defaults (section 6).
 *
 * <p>Unsigned 32-bit fields are held as {@code long}. The last four are 0 when an early server left them out.
 */
public record Limits(
        int version,
        long maxFrameBytes,
        long maxDecompressedBytes,
        long maxRecordsPerFrame,
        long maxRecordBytes,
        int maxKeyBytes,
        int maxHeaders,
        long maxHeaderBytes,
        long maxUnackedBytes,
        long handshakeTimeoutMs,
        long idleTimeoutMs,
        long maxConnections) {

    /** The protocol's default limits, in force until a HELLO_OK announces the server's. */
    public static final Limits DEFAULTS = new Limits(1, 1_048_576, 4_194_304, 10_000, 1_000_000, 1024, 64, 65_536,
            67_108_864, 5_000, 600_000, 1024);

    /** Whether a client can publish within these limits at all. */
    boolean usable() {
        return maxFrameBytes >= 64 && maxDecompressedBytes >= 64 && maxRecordsPerFrame > 0 && maxRecordBytes > 0
                && maxKeyBytes > 0;
    }
}
