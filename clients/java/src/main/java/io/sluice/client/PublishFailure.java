package io.sluice.client;

import java.util.UUID;

/**
 * A record the gateway refused after the client took it: what {@link FailureListener} receives.
 *
 * @param topic the record's topic, or null when the client no longer held it (ack level NONE, evicted)
 * @param key the record's key, or null when unknown
 * @param eventId the event id it was sent with, or null when unknown
 * @param code the error code
 * @param wireCode the code's number as received
 * @param message the server's message when an ERROR refused the whole batch, else ""
 */
public record PublishFailure(String topic, String key, UUID eventId, ErrorCode code, int wireCode, String message) {
    /** Whether the protocol marks the code retriable: publishing the record again may succeed. */
    public boolean retriable() {
        return code.retriable();
    }
}
