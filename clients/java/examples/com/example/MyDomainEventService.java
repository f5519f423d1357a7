package com.example;

import io.sluice.client.EventPublisher;
import io.sluice.client.EventSerializer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * The seed's {@code publishMyNewEvent}, in Java against Sluice's {@link EventPublisher}: the service depends on
 * the interface only; production wires a {@code SluiceEventPublisher}, unit tests a {@code FakeEventPublisher}.
 */
public final class MyDomainEventService {
    /** The topic constant, as in the seed's KafkaTopics. */
    public static final String MY_NEW_EVENT = "casino.domain.my-action.v1";

    /** The seed's event shape: id and type travel as Sluice's event-id and event-type headers too. */
    public record MyNewEvent(String eventId, String eventType, String eventTimestamp, String brandId, String userId,
            String field1) {}

    /** An entity with a player. */
    public record MyEntity(long id, long playerId, String field1) {}

    /**
     * What a Spring service would configure once: Jackson's {@code objectMapper::writeValueAsBytes} in real code;
     * a hand-written JSON here so the example compiles with the JDK alone.
     */
    public static final EventSerializer SERIALIZER = new EventSerializer() {
        @Override
        public byte[] serialize(Object event) {
            MyNewEvent e = (MyNewEvent) event;
            return ("{\"eventId\":\"" + e.eventId() + "\",\"eventType\":\"" + e.eventType() + "\",\"userId\":\""
                    + e.userId() + "\",\"field1\":\"" + e.field1() + "\"}").getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String eventType(Object event) {
            return ((MyNewEvent) event).eventType();
        }

        @Override
        public UUID eventId(Object event) {
            return UUID.fromString(((MyNewEvent) event).eventId());
        }
    };

    private final EventPublisher eventPublisher;
    private final String brandId;

    public MyDomainEventService(EventPublisher eventPublisher, String brandId) {
        this.eventPublisher = eventPublisher;
        this.brandId = brandId;
    }

    /** Publishes MyNewEvent keyed by the player id, so one player's events stay in order. */
    public void publishMyNewEvent(MyEntity entity) {
        try {
            MyNewEvent event = new MyNewEvent(UUID.randomUUID().toString(), MY_NEW_EVENT,
                    java.time.Instant.now().toString(), brandId, Long.toString(entity.playerId()), entity.field1());
            eventPublisher.publish(MY_NEW_EVENT, Long.toString(entity.playerId()), event)
                    .whenComplete((id, failure) -> {
                        if (failure != null) System.err.println("Failed to publish MyNewEvent " + entity.id() + ": " + failure);
                    });
        } catch (RuntimeException e) {
            System.err.println("Failed to publish MyNewEvent " + entity.id() + ": " + e);
        }
    }
}
