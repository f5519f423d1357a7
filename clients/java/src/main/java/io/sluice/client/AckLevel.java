package io.sluice.client;

/** When the gateway acknowledges a batch (PROTOCOL.md section 4). */
public enum AckLevel {
    /** Acked once every record is in Kafka (acks=all) or fsync'd in the gateway's spool. Survives a crash. */
    DURABLE(0),
    /** Acked once every record is validated and queued in the gateway's memory. */
    ACCEPTED(1),
    /** Never acked: a record's future completes once it is written; the gateway reports only failures. */
    NONE(2);

    private final int wire;

    AckLevel(int wire) {
        this.wire = wire;
    }

    /** The value of the ack-level byte in a PUBLISH payload. */
    public int wire() {
        return wire;
    }
}
