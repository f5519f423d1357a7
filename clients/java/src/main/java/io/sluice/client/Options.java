package io.sluice.client;

import java.time.Duration;

/**
 * Client options with the defaults documented on each setter; {@link SluiceClient#connect} copies them.
 *
 * <p>Setters return {@code this}: {@code new Options().ackLevel(AckLevel.ACCEPTED).linger(Duration.ofMillis(2))}.
 */
public final class Options implements Cloneable {
    AckLevel ackLevel = AckLevel.DURABLE;
    String clientName = "sluice-java/" + Version.VERSION;
    int maxBatchRecords = 1000;
    int maxBatchBytes = 1024 * 1024;
    Duration linger = Duration.ofMillis(5);
    boolean compression = false;
    int zstdLevel = 1;
    Duration connectTimeout = Duration.ofSeconds(5);
    Duration publishTimeout = Duration.ofSeconds(30);
    long maxUnackedBytes = 64L * 1024 * 1024;
    Duration backoff = Duration.ofMillis(100);
    Duration backoffMax = Duration.ofSeconds(2);
    Duration drainTimeout = Duration.ofSeconds(5);
    Duration closeTimeout = Duration.ofSeconds(10);
    boolean generateEventIds = true;
    boolean connectLazily = false;
    FailureListener failureListener;

    /** Ack level of every batch. Default: {@link AckLevel#DURABLE}. */
    public Options ackLevel(AckLevel v) {
        ackLevel = v;
        return this;
    }

    /** Name sent in HELLO, for the gateway's logs. Default: "sluice-java/VERSION". */
    public Options clientName(String v) {
        clientName = v;
        return this;
    }

    /** Records per PUBLISH frame; never above the server's limit. Default: 1000. */
    public Options maxBatchRecords(int v) {
        maxBatchRecords = v;
        return this;
    }

    /** Uncompressed PUBLISH payload bytes per batch; never above the server's limits. Default: 1 MiB. */
    public Options maxBatchBytes(int v) {
        maxBatchBytes = v;
        return this;
    }

    /**
     * How long a batch waits for more records before it is sent when it is neither full nor flushed. Default:
     * 5 ms. Zero sends whatever has arrived whenever the socket is free.
     */
    public Options linger(Duration v) {
        linger = v;
        return this;
    }

    /**
     * zstd-compress batches when that makes them smaller. Default: off (on a local socket zstd costs both ends
     * more CPU than it saves). Needs zstd-jni on the class path (Debian: libzstd-jni-java,
     * /usr/share/java/zstd-jni.jar); without it {@code connect} fails with INVALID_ARGUMENT.
     */
    public Options compression(boolean v) {
        compression = v;
        return this;
    }

    /** zstd level when compression is on. Default: 1. */
    public Options zstdLevel(int v) {
        zstdLevel = v;
        return this;
    }

    /** Bound on one connection attempt including the HELLO handshake. Default: 5 s. */
    public Options connectTimeout(Duration v) {
        connectTimeout = v;
        return this;
    }

    /** How long {@code publish} may block on backpressure before it fails the record with TIMEOUT. Default: 30 s. */
    public Options publishTimeout(Duration v) {
        publishTimeout = v;
        return this;
    }

    /**
     * Bytes of batches held (unsent or unacknowledged) before {@code publish} blocks; the server's announced max
     * unacked bytes caps it too. Default: 64 MiB.
     */
    public Options maxUnackedBytes(long v) {
        maxUnackedBytes = v;
        return this;
    }

    /** First pause after a failed connection attempt or a retriable ERROR; doubles up to backoffMax. Default: 100 ms. */
    public Options backoff(Duration v) {
        backoff = v;
        return this;
    }

    /** Longest such pause. Default: 2 s. */
    public Options backoffMax(Duration v) {
        backoffMax = v;
        return this;
    }

    /**
     * After a write fails or a closing ERROR arrives, how long the client keeps reading the old connection for
     * replies still on their way before it gives up on them (they are then resent). Default: 5 s.
     */
    public Options drainTimeout(Duration v) {
        drainTimeout = v;
        return this;
    }

    /** How long {@link SluiceClient#close()} waits for held records to be acknowledged. Default: 10 s. */
    public Options closeTimeout(Duration v) {
        closeTimeout = v;
        return this;
    }

    /** Give a record without an event id a random UUIDv4 (kept on resends). Off: the gateway assigns one. Default: on. */
    public Options generateEventIds(boolean v) {
        generateEventIds = v;
        return this;
    }

    /**
     * Return from {@code connect} even when the gateway cannot be reached yet, and keep trying in the background
     * (records wait, up to maxUnackedBytes). Default: off: {@code connect} throws when its attempt fails.
     */
    public Options connectLazily(boolean v) {
        connectLazily = v;
        return this;
    }

    /** Called for every record the gateway refused; see {@link FailureListener}. Default: none. */
    public Options failureListener(FailureListener v) {
        failureListener = v;
        return this;
    }

    Options copy() {
        try {
            return (Options) clone();
        } catch (CloneNotSupportedException e) {
            throw new AssertionError(e);
        }
    }

    void validate() {
        String bad = null;
        if (ackLevel == null) bad = "ackLevel is null";
        else if (clientName == null || clientName.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > Wire.MAX_HELLO - 6)
            bad = "clientName is null or longer than 1018 bytes";
        else if (maxBatchRecords < 1) bad = "maxBatchRecords is below 1";
        else if (maxBatchBytes < 64) bad = "maxBatchBytes is below 64";
        else if (maxUnackedBytes < 1) bad = "maxUnackedBytes is below 1";
        else if (linger == null || linger.isNegative()) bad = "linger is negative";
        else if (connectTimeout == null || publishTimeout == null || backoff == null || backoffMax == null
                || drainTimeout == null || closeTimeout == null) bad = "a timeout is null";
        if (bad != null) throw new SluiceException(ErrorCode.INVALID_ARGUMENT, bad);
    }
}
