package io.sluice.client;

/** One sealed PUBLISH frame, held until the gateway acknowledges it (or, at ack level NONE, until written). */
final class Batch {
    static final int QUEUED = 0, WRITING = 1, INFLIGHT = 2;

    /** Sealing order: batches are written, and resent, in this order. */
    final long seq;
    final byte[] frame;
    final int frameLength;
    final int plainLength;
    final RecordFuture[] records;
    int state = QUEUED;
    /** Request id on the connection it was last written to; 0 while queued. */
    int requestId;
    Connection conn;
    int retries;
    long notBeforeNanos;

    Batch(long seq, byte[] frame, int frameLength, int plainLength, RecordFuture[] records) {
        this.seq = seq;
        this.frame = frame;
        this.frameLength = frameLength;
        this.plainLength = plainLength;
        this.records = records;
    }
}
