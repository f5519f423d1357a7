package io.sluice.client;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/** The future of one taken record; it remembers what a failure report names. Completes with the event id. */
final class RecordFuture extends CompletableFuture<UUID> {
    final String topic;
    final String key;
    final long idMsb;
    final long idLsb;

    RecordFuture(String topic, String key, long idMsb, long idLsb) {
        this.topic = topic;
        this.key = key;
        this.idMsb = idMsb;
        this.idLsb = idLsb;
    }

    /** The event id the record was sent with, or null when the gateway assigns it. */
    UUID eventId() {
        return idMsb == 0 && idLsb == 0 ? null : new UUID(idMsb, idLsb);
    }
}
