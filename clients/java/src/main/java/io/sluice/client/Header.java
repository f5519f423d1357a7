package io.sluice.client;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One Kafka header of a record: a non-empty name (not {@code event-id}, {@code event-type} or {@code sluice-*},
 * which the gateway stamps) and any bytes as value.
 */
public record Header(String name, byte[] value) {
    /** Makes a header; a null value is taken as empty. */
    public Header {
        Objects.requireNonNull(name, "name");
        if (value == null) value = new byte[0];
    }

    /** A header whose value is the UTF-8 bytes of {@code value}. */
    public static Header of(String name, String value) {
        return new Header(name, value.getBytes(StandardCharsets.UTF_8));
    }
}
