package io.sluice.client;

/**
 * Error codes: the protocol's numbered codes (PROTOCOL.md section 5) and, from 100 on, client-side categories.
 *
 * <p>A code is what a server {@code ERROR} frame carried, what an {@code ACK} reported for one record, or what a
 * record failed local validation with. The numbers match the C client's {@code sluice_error_code}.
 */
public enum ErrorCode {
    /** A frame's first two bytes are not "SL". */
    BAD_MAGIC(1),
    /** No common protocol version, or a frame's version differs from the negotiated one. */
    UNSUPPORTED_VERSION(2),
    /** A reserved field or bit is not zero. */
    RESERVED_BITS(3),
    /** A frame's payload length is over the limit. */
    FRAME_TOO_LARGE(4),
    /** The frame type is not in the protocol. */
    UNKNOWN_TYPE(5),
    /** A frame the connection's state does not allow. */
    PROTOCOL_STATE(6),
    /** A payload's structure is broken. */
    MALFORMED_PAYLOAD(7),
    /** A zstd frame does not declare its content size. */
    CONTENT_SIZE_MISSING(8),
    /** The declared zstd content size is over the limit. */
    DECOMPRESSED_TOO_LARGE(9),
    /** Not exactly one valid zstd frame of the declared size. */
    BAD_COMPRESSION(10),
    /** Record count over the limit. */
    TOO_MANY_RECORDS(11),
    /** The topic breaks Kafka's naming rule. */
    INVALID_TOPIC(20),
    /** The key is empty, over the server's max key bytes, or not UTF-8. */
    INVALID_KEY(21),
    /** The record is over the server's max record bytes. */
    RECORD_TOO_LARGE(22),
    /** Too many headers or header bytes, an empty, non-UTF-8 or reserved name. */
    INVALID_HEADERS(23),
    /** This peer may not publish to the record's topic. */
    TOPIC_NOT_ALLOWED(24),
    /** The event type is not UTF-8. */
    INVALID_EVENT_TYPE(25),
    /** The timestamp is negative. */
    INVALID_TIMESTAMP(26),
    /** The record breaks its topic's contract (the gateway's {@code topics:} configuration). */
    CONTRACT_VIOLATION(27),
    /** The gateway takes declared topics only ({@code topics.declared-only}), and this one is not. */
    UNKNOWN_TOPIC(28),
    /** Kafka did not acknowledge the record (retriable). */
    DELIVERY_FAILED(30),
    /** The broker refused the record for good. */
    REJECTED_BY_BROKER(31),
    /** The gateway cannot take more now (retriable). */
    OVERLOADED(40),
    /** The gateway is stopping (retriable). */
    SHUTTING_DOWN(41),
    /** An unexpected server fault (retriable). */
    INTERNAL(42),
    /** This peer (uid/gid) may not connect. */
    NOT_PERMITTED(43),
    /** No HELLO in time, or the connection sat idle (retriable). */
    TIMED_OUT(44),
    /** The gateway is at its connection limit (retriable). */
    TOO_MANY_CONNECTIONS(45),

    /** A code this client does not know; {@link SluiceException#wireCode()} holds the number. */
    UNKNOWN(-1),
    /** A system call on the socket failed. */
    IO(100),
    /** The call's timeout expired. */
    TIMEOUT(101),
    /** The server sent something malformed or unexpected. */
    PROTOCOL(102),
    /** A bad argument or option. */
    INVALID_ARGUMENT(104),
    /** The client is closed, or the connection could not be established. */
    CLOSED(105),
    /** {@link SluiceClient#flush}: records failed since the previous flush (see their futures). */
    RECORDS_FAILED(106);

    private final int code;

    ErrorCode(int code) {
        this.code = code;
    }

    /** The number of this code on the wire (or the C client's number for client-side codes). */
    public int code() {
        return code;
    }

    /** Whether the protocol says publishing the record again may succeed (section 5, "retriable"). */
    public boolean retriable() {
        switch (this) {
            case DELIVERY_FAILED: case OVERLOADED: case SHUTTING_DOWN: case INTERNAL: case TIMED_OUT:
            case TOO_MANY_CONNECTIONS:
                return true;
            default:
                return false;
        }
    }

    private static final ErrorCode[] BY_CODE = new ErrorCode[128];

    static {
        for (ErrorCode c : values()) {
            if (c.code >= 0) BY_CODE[c.code] = c;
        }
    }

    /** The code with this number, or {@link #UNKNOWN}. */
    public static ErrorCode of(int code) {
        ErrorCode c = code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        return c == null ? UNKNOWN : c;
    }
}
