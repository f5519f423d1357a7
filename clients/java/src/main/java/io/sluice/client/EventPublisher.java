package io.sluice.client;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * The shape Kotlin/Spring services already call: {@code eventPublisher.publish(topic, key, event)}, with the
 * player id as key. {@link SluiceEventPublisher} publishes through a {@link SluiceClient};
 * {@code io.sluice.client.testing.FakeEventPublisher} records calls for unit tests.
 */
public interface EventPublisher {
    /**
     * Publishes one event. The future completes with the event id once the gateway acknowledged it at the
     * client's ack level, or exceptionally with a {@link SluiceException} carrying the code.
     */
    CompletableFuture<UUID> publish(String topic, String key, Object event);
}
