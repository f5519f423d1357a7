package io.sluice.client;

import java.util.UUID;
import java.util.function.Function;

/**
 * Turns an application event into a record's value, and optionally names its event type and event id.
 *
 * <p>With Jackson (as Spring has it): {@code EventSerializer.of(objectMapper::writeValueAsBytes)} — wrap the
 * checked exception — and override {@link #eventType} / {@link #eventId} to carry the seed's
 * {@code BaseEvent.eventType} and {@code eventId} into the {@code event-type} and {@code event-id} headers.
 */
public interface EventSerializer {
    /** The record's value. */
    byte[] serialize(Object event);

    /** The event type published as header {@code event-type}; null (the default) for none. */
    default String eventType(Object event) {
        return null;
    }

    /**
     * The event id published as header {@code event-id}; null (the default) lets the client assign a UUIDv4.
     * Returning the application's own id lets consumers deduplicate with the id the service logged.
     */
    default UUID eventId(Object event) {
        return null;
    }

    /** A serializer from a function; no event type, client-assigned ids. */
    static EventSerializer of(Function<Object, byte[]> f) {
        return f::apply;
    }
}
