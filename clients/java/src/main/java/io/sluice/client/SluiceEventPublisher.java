package io.sluice.client;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/** An {@link EventPublisher} over a {@link SluiceClient}, with a pluggable {@link EventSerializer}. */
public final class SluiceEventPublisher implements EventPublisher {
    private final SluiceClient client;
    private final EventSerializer serializer;

    /** Publishes through {@code client}, serializing events with {@code serializer}. */
    public SluiceEventPublisher(SluiceClient client, EventSerializer serializer) {
        this.client = client;
        this.serializer = serializer;
    }

    /** Serializes the event and publishes it; a serializer's exception fails the future (INVALID_ARGUMENT). */
    @Override
    public CompletableFuture<UUID> publish(String topic, String key, Object event) {
        byte[] value;
        String type;
        UUID id;
        try {
            value = serializer.serialize(event);
            type = serializer.eventType(event);
            id = serializer.eventId(event);
        } catch (RuntimeException ex) {
            return CompletableFuture.failedFuture(new SluiceException(ErrorCode.INVALID_ARGUMENT,
                    ErrorCode.INVALID_ARGUMENT.code(), "serializing the event: " + ex, ex));
        }
        return client.publish(topic, key, value, null, type, id, 0);
    }
}
