package io.sluice.client;

/**
 * The per-record rules of PROTOCOL.md section 3.2, checked in the protocol's order against announced limits,
 * so a record the gateway would refuse is refused locally with the same code.
 */
final class RecordCheck {
    private RecordCheck() {}

    /** Throws the first rule the record breaks, with its code; {@code maxPayload} bounds one PUBLISH payload. */
    static void check(OutRecord r, Limits l, long maxPayload) {
        if (r.topic == null || !topicValid(r.topic)) {
            throw fail(ErrorCode.INVALID_TOPIC,
                    "invalid topic: must be 1-249 of [a-zA-Z0-9._-] and not \".\" or \"..\"");
        }
        if (r.key == null || r.key.length == 0 || r.key.length > l.maxKeyBytes()) {
            throw fail(ErrorCode.INVALID_KEY, "invalid key of " + (r.key == null ? "?" : r.key.length)
                    + " bytes: must be 1-" + l.maxKeyBytes() + " bytes of UTF-8");
        }
        if (!Utf8.valid(r.key)) throw fail(ErrorCode.INVALID_KEY, "the key is not valid UTF-8");
        if (r.eventType == null || !Utf8.valid(r.eventType)) {
            throw fail(ErrorCode.INVALID_EVENT_TYPE, "the event type is not valid UTF-8");
        }
        if (r.timestampMs < 0) throw fail(ErrorCode.INVALID_TIMESTAMP, "timestamp " + r.timestampMs + " is negative");
        int n = r.headerCount();
        if (n > l.maxHeaders()) {
            throw fail(ErrorCode.INVALID_HEADERS, n + " headers, the server allows " + l.maxHeaders());
        }
        long headerBytes = 0;
        for (int i = 0; i < n; i++) {
            byte[] name = r.headerNames[i];
            if (name == null || name.length == 0) throw fail(ErrorCode.INVALID_HEADERS, "header " + i + " has an empty name");
            if (name.length > 0xffff) throw fail(ErrorCode.INVALID_HEADERS, "header " + i + ": the name is too long");
            if (!Utf8.valid(name)) throw fail(ErrorCode.INVALID_HEADERS, "header " + i + ": the name is not valid UTF-8");
            if (reserved(name)) {
                throw fail(ErrorCode.INVALID_HEADERS, "header " + i + ": the name is reserved for the gateway");
            }
            headerBytes += name.length + (long) r.headerValues[i].length;
        }
        if (headerBytes > l.maxHeaderBytes()) {
            throw fail(ErrorCode.INVALID_HEADERS, "headers take " + headerBytes + " bytes, the server allows "
                    + l.maxHeaderBytes());
        }
        if (r.eventType.length > 0xffff) throw fail(ErrorCode.RECORD_TOO_LARGE, "the event type is over 65535 bytes");
        long content = r.contentSize();
        if (content > l.maxRecordBytes()) {
            throw fail(ErrorCode.RECORD_TOO_LARGE, "record of " + content + " bytes, the server allows "
                    + l.maxRecordBytes());
        }
        long encoded = r.encodedSize();
        if (Wire.PREAMBLE + encoded > maxPayload) {
            throw fail(ErrorCode.RECORD_TOO_LARGE, "record encodes to " + encoded + " bytes, a frame holds at most "
                    + (maxPayload - Wire.PREAMBLE));
        }
    }

    /** Kafka's topic rule: 1-249 bytes of a-z A-Z 0-9 . _ - and not "." or "..". */
    static boolean topicValid(byte[] t) {
        if (t.length == 0 || t.length > 249) return false;
        for (byte b : t) {
            boolean ok = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '.'
                    || b == '_' || b == '-';
            if (!ok) return false;
        }
        return !(t.length == 1 && t[0] == '.') && !(t.length == 2 && t[0] == '.' && t[1] == '.');
    }

    /** Whether a header name is one the gateway stamps: event-id, event-type or sluice-*, ignoring ASCII case. */
    static boolean reserved(byte[] name) {
        return equalsIgnoreAsciiCase(name, "event-id", true) || equalsIgnoreAsciiCase(name, "event-type", true)
                || equalsIgnoreAsciiCase(name, "sluice-", false);
    }

    private static boolean equalsIgnoreAsciiCase(byte[] name, String want, boolean whole) {
        if (whole ? name.length != want.length() : name.length < want.length()) return false;
        for (int i = 0; i < want.length(); i++) {
            int c = name[i];
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
            if (c != want.charAt(i)) return false;
        }
        return true;
    }

    private static SluiceException fail(ErrorCode code, String message) {
        return new SluiceException(code, message);
    }
}
