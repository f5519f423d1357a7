package io.sluice.client;

/**
 * One record in wire form, ready to check and encode. A null text field means the caller's string was not
 * encodable as UTF-8 (an unpaired surrogate); the check then fails with that field's code.
 */
final class OutRecord {
    byte[] topic;
    byte[] key;
    byte[] eventType;
    long idMsb;
    long idLsb;
    long timestampMs;
    byte[][] headerNames;
    byte[][] headerValues;
    byte[] value;

    OutRecord(byte[] topic, byte[] key, byte[] eventType, long timestampMs, byte[][] headerNames,
            byte[][] headerValues, byte[] value) {
        this.topic = topic;
        this.key = key;
        this.eventType = eventType;
        this.timestampMs = timestampMs;
        this.headerNames = headerNames;
        this.headerValues = headerValues;
        this.value = value;
    }

    int headerCount() {
        return headerNames == null ? 0 : headerNames.length;
    }

    /** Bytes this record takes in a PUBLISH payload. */
    int encodedSize() {
        long n = Wire.RECORD_FIXED + (long) topic.length + key.length + eventType.length + value.length;
        for (int i = 0; i < headerCount(); i++) {
            n += Wire.HEADER_FIXED + headerNames[i].length + headerValues[i].length;
        }
        return n > Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) n;
    }

    /** Topic + key + event type + header names and values + value: what max record bytes limits. */
    long contentSize() {
        long n = (long) topic.length + key.length + eventType.length + value.length;
        for (int i = 0; i < headerCount(); i++) n += headerNames[i].length + headerValues[i].length;
        return n;
    }
}
