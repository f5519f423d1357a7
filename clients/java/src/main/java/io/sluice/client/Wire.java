package io.sluice.client;

import java.nio.charset.StandardCharsets;

/** Wire protocol v1 constants, big-endian helpers and the client's control frames (PROTOCOL.md sections 2-3). */
final class Wire {
    static final int HDR = 16;
    static final int VERSION = 1;
    static final int HELLO = 0x01, HELLO_OK = 0x02, PUBLISH = 0x03, ACK = 0x04, ERROR = 0x05, STATS = 0x06,
            STATS_REPLY = 0x07, PING = 0x08, PONG = 0x09;
    static final int FLAG_COMPRESSED = 0x0001;
    static final int ERR_CLOSING = 0x01, ERR_RETRIABLE = 0x02;
    /** PUBLISH payload preamble: ack level, reserved, record count. */
    static final int PREAMBLE = 6;
    /** Fixed bytes of one record: three str16 lengths, event id, timestamp, header count, value length. */
    static final int RECORD_FIXED = 2 + 2 + 2 + 16 + 8 + 2 + 4;
    /** Per-header overhead: str16 name length and bytes32 value length. */
    static final int HEADER_FIXED = 2 + 4;
    static final int MAX_HELLO = 1024;
    static final int MAX_PING = 256;
    /** This client's own limit on a server frame's payload (section 6). */
    static final int MAX_SERVER_PAYLOAD = 16 * 1024 * 1024;

    private Wire() {}

    static void put16(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 8);
        b[off + 1] = (byte) v;
    }

    static void put32(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 24);
        b[off + 1] = (byte) (v >>> 16);
        b[off + 2] = (byte) (v >>> 8);
        b[off + 3] = (byte) v;
    }

    static void put64(byte[] b, int off, long v) {
        put32(b, off, (int) (v >>> 32));
        put32(b, off + 4, (int) v);
    }

    static int get16(byte[] b, int off) {
        return ((b[off] & 0xff) << 8) | (b[off + 1] & 0xff);
    }

    static long get32(byte[] b, int off) {
        return ((long) (b[off] & 0xff) << 24) | ((b[off + 1] & 0xff) << 16) | ((b[off + 2] & 0xff) << 8)
                | (b[off + 3] & 0xff);
    }

    /** Writes a frame header at the start of {@code frame}. */
    static void header(byte[] frame, int type, int flags, int requestId, int payloadLength) {
        frame[0] = 0x53;
        frame[1] = 0x4C;
        frame[2] = VERSION;
        frame[3] = (byte) type;
        put16(frame, 4, flags);
        put16(frame, 6, 0);
        put32(frame, 8, requestId);
        put32(frame, 12, payloadLength);
    }

    static void setRequestId(byte[] frame, int requestId) {
        put32(frame, 8, requestId);
    }

    /** A HELLO offering versions min..max under a client name. */
    static byte[] hello(int requestId, int min, int max, String clientName) {
        byte[] name = clientName.getBytes(StandardCharsets.UTF_8);
        byte[] f = new byte[HDR + 6 + name.length];
        header(f, HELLO, 0, requestId, 6 + name.length);
        put16(f, HDR, min);
        put16(f, HDR + 2, max);
        put16(f, HDR + 4, name.length);
        System.arraycopy(name, 0, f, HDR + 6, name.length);
        return f;
    }

    /** A PING carrying up to 256 opaque bytes. */
    static byte[] ping(int requestId, byte[] data) {
        if (data.length > MAX_PING) throw new IllegalArgumentException("a PING carries at most 256 bytes");
        byte[] f = new byte[HDR + data.length];
        header(f, PING, 0, requestId, data.length);
        System.arraycopy(data, 0, f, HDR, data.length);
        return f;
    }

    /** A STATS request (empty payload). */
    static byte[] stats(int requestId) {
        byte[] f = new byte[HDR];
        header(f, STATS, 0, requestId, 0);
        return f;
    }
}
