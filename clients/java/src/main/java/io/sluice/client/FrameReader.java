package io.sluice.client;

import java.nio.charset.StandardCharsets;

/**
 * Reads server frames from a byte stream split anyhow (PROTOCOL.md section 9, "Reading the server's frames"):
 * checks each header before waiting for its payload, then the payload's rules. A violation throws a
 * {@link SluiceException} with the protocol's code; the connection is then broken.
 */
final class FrameReader {
    private byte[] buf = new byte[8192];
    private int start;
    private int end;
    private final int maxPayload;

    FrameReader(int maxPayload) {
        this.maxPayload = maxPayload;
    }

    FrameReader() {
        this(Wire.MAX_SERVER_PAYLOAD);
    }

    /** Bytes received and not yet returned as frames. */
    int pending() {
        return end - start;
    }

    /** Appends received bytes. */
    void feed(byte[] data, int off, int len) {
        if (len == 0) return;
        if (start > 0 && end + len > buf.length) {
            System.arraycopy(buf, start, buf, 0, end - start);
            end -= start;
            start = 0;
        }
        if (end + len > buf.length) {
            byte[] nb = new byte[Math.max(end + len, buf.length * 2)];
            System.arraycopy(buf, 0, nb, 0, end);
            buf = nb;
        }
        System.arraycopy(data, off, buf, end, len);
        end += len;
    }

    /** The next complete frame, or null when more bytes are needed. */
    ServerFrame next() {
        int avail = end - start;
        if (avail < Wire.HDR) return null;
        byte[] b = buf;
        int h = start;
        if ((b[h] & 0xff) != 0x53 || (b[h + 1] & 0xff) != 0x4C) {
            throw violation(ErrorCode.BAD_MAGIC, "bad magic");
        }
        if (b[h + 2] != Wire.VERSION) throw violation(ErrorCode.UNSUPPORTED_VERSION, "frame version " + b[h + 2]);
        int flags = Wire.get16(b, h + 4), reserved = Wire.get16(b, h + 6);
        if (flags != 0) throw violation(ErrorCode.RESERVED_BITS, "server frame flags " + flags);
        if (reserved != 0) throw violation(ErrorCode.RESERVED_BITS, "reserved header field " + reserved);
        long plen = Wire.get32(b, h + 12);
        if (plen > maxPayload) {
            throw violation(ErrorCode.FRAME_TOO_LARGE, "payload length " + plen + " over the client limit " + maxPayload);
        }
        int type = b[h + 3] & 0xff;
        switch (type) {
            case Wire.HELLO_OK: case Wire.ACK: case Wire.ERROR: case Wire.STATS_REPLY: case Wire.PONG:
                break;
            case Wire.HELLO: case Wire.PUBLISH: case Wire.STATS: case Wire.PING:
                throw violation(ErrorCode.PROTOCOL_STATE, "server sent client frame type " + type);
            default:
                throw violation(ErrorCode.UNKNOWN_TYPE, "unknown frame type " + type);
        }
        if (avail - Wire.HDR < plen) return null;
        ServerFrame f = new ServerFrame();
        f.type = type;
        f.requestId = (int) Wire.get32(b, h + 8);
        int p = h + Wire.HDR, n = (int) plen;
        start += Wire.HDR + n;
        switch (type) {
            case Wire.HELLO_OK: helloOk(f, b, p, n); break;
            case Wire.ACK: ack(f, b, p, n); break;
            case Wire.ERROR: error(f, b, p, n); break;
            case Wire.PONG:
                if (n > Wire.MAX_PING) throw violation(ErrorCode.MALFORMED_PAYLOAD, "PONG of " + n + " bytes");
                f.body = copy(b, p, n);
                break;
            default:
                if (!Utf8.valid(b, p, n)) throw violation(ErrorCode.MALFORMED_PAYLOAD, "STATS_REPLY is not UTF-8");
                f.body = copy(b, p, n);
        }
        if (start == end) start = end = 0;
        return f;
    }

    private static void helloOk(ServerFrame f, byte[] b, int p, int n) {
        final int fixed = 26;
        if (n < fixed + 2) throw violation(ErrorCode.MALFORMED_PAYLOAD, "HELLO_OK payload of " + n + " bytes");
        int nameLen = Wire.get16(b, p + fixed);
        if (nameLen > n - fixed - 2) throw violation(ErrorCode.MALFORMED_PAYLOAD, "HELLO_OK server name runs past the end");
        int nameAt = p + fixed + 2;
        if (!Utf8.valid(b, nameAt, nameLen)) throw violation(ErrorCode.MALFORMED_PAYLOAD, "HELLO_OK server name is not UTF-8");
        f.serverName = new String(b, nameAt, nameLen, StandardCharsets.UTF_8);
        int rest = nameAt + nameLen, left = p + n - rest;
        // The last four limits come as a group or not at all (PROTOCOL.md section 3.1); bytes after them are
        // later versions' fields.
        if (left > 0 && left < 16) {
            throw violation(ErrorCode.MALFORMED_PAYLOAD, "HELLO_OK has " + left + " of the 16 bytes of session limits");
        }
        boolean session = left >= 16;
        f.limits = new Limits(Wire.get16(b, p), Wire.get32(b, p + 2), Wire.get32(b, p + 6), Wire.get32(b, p + 10),
                Wire.get32(b, p + 14), Wire.get16(b, p + 18), Wire.get16(b, p + 20), Wire.get32(b, p + 22),
                session ? Wire.get32(b, rest) : 0, session ? Wire.get32(b, rest + 4) : 0,
                session ? Wire.get32(b, rest + 8) : 0, session ? Wire.get32(b, rest + 12) : 0);
    }

    private static void ack(ServerFrame f, byte[] b, int p, int n) {
        if (n < 8) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ACK payload of " + n + " bytes is shorter than 8");
        long count = Wire.get32(b, p), failed = Wire.get32(b, p + 4);
        if (count == 0) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ACK for 0 records");
        if (failed > count) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ACK failed count over record count");
        if (n - 8 != failed * 6) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ACK length does not fit its failures");
        int k = (int) failed;
        f.ackCount = count;
        f.failIndex = new int[k];
        f.failCode = new int[k];
        long prev = -1;
        for (int i = 0; i < k; i++) {
            long idx = Wire.get32(b, p + 8 + i * 6);
            if (idx >= count) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ACK failure index " + idx + " out of range");
            if (idx <= prev) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ACK failure indexes not ascending");
            prev = idx;
            f.failIndex[i] = (int) idx;
            f.failCode[i] = Wire.get16(b, p + 8 + i * 6 + 4);
        }
    }

    private static void error(ServerFrame f, byte[] b, int p, int n) {
        if (n < 6) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ERROR payload of " + n + " bytes is shorter than 6");
        int flags = b[p + 2] & 0xff;
        if ((flags & ~(Wire.ERR_CLOSING | Wire.ERR_RETRIABLE)) != 0) {
            throw violation(ErrorCode.RESERVED_BITS, "ERROR flags " + flags + " have reserved bits set");
        }
        if (b[p + 3] != 0) throw violation(ErrorCode.RESERVED_BITS, "ERROR reserved byte is not zero");
        int mlen = Wire.get16(b, p + 4);
        if (mlen != n - 6) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ERROR message does not fill the payload");
        if (!Utf8.valid(b, p + 6, mlen)) throw violation(ErrorCode.MALFORMED_PAYLOAD, "ERROR message is not UTF-8");
        f.errorCode = Wire.get16(b, p);
        f.errorFlags = flags;
        f.message = new String(b, p + 6, mlen, StandardCharsets.UTF_8);
    }

    private static byte[] copy(byte[] b, int p, int n) {
        byte[] out = new byte[n];
        System.arraycopy(b, p, out, 0, n);
        return out;
    }

    private static SluiceException violation(ErrorCode code, String message) {
        return new SluiceException(code, message);
    }
}
