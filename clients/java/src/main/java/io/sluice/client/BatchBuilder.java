package io.sluice.client;

/** Encodes records into one PUBLISH frame (header, preamble, records) in a growing buffer. */
final class BatchBuilder {
    private byte[] buf;
    private int len;
    private int count;

    /** Starts an empty batch at the given ack level. */
    BatchBuilder(int ackLevel, int initialCapacity) {
        this(ackLevel, new byte[Math.max(initialCapacity, Wire.HDR + Wire.PREAMBLE + 64)]);
    }

    /** Starts an empty batch in a buffer that is free for reuse (its bytes are overwritten). */
    BatchBuilder(int ackLevel, byte[] buffer) {
        buf = buffer;
        len = Wire.HDR + Wire.PREAMBLE;
        buf[Wire.HDR] = (byte) ackLevel;
        buf[Wire.HDR + 1] = 0;
    }

    int count() {
        return count;
    }

    /** Bytes of the frame so far (header included). */
    int frameLength() {
        return len;
    }

    /** Payload bytes so far (preamble included). */
    int payloadLength() {
        return len - Wire.HDR;
    }

    byte[] buffer() {
        return buf;
    }

    /** Appends one record (already checked). */
    void add(OutRecord r) {
        ensure(r.encodedSize());
        byte[] b = buf;
        int p = len;
        p = str16(b, p, r.topic);
        p = str16(b, p, r.key);
        p = str16(b, p, r.eventType);
        Wire.put64(b, p, r.idMsb);
        Wire.put64(b, p + 8, r.idLsb);
        Wire.put64(b, p + 16, r.timestampMs);
        p += 24;
        int n = r.headerCount();
        Wire.put16(b, p, n);
        p += 2;
        for (int i = 0; i < n; i++) {
            p = str16(b, p, r.headerNames[i]);
            p = bytes32(b, p, r.headerValues[i]);
        }
        p = bytes32(b, p, r.value);
        len = p;
        count++;
    }

    /** Fills in the header and the record count; the frame is {@code buffer()[0, frameLength())}. */
    void finish() {
        Wire.header(buf, Wire.PUBLISH, 0, 0, len - Wire.HDR);
        Wire.put32(buf, Wire.HDR + 2, count);
    }

    private static int str16(byte[] b, int p, byte[] s) {
        Wire.put16(b, p, s.length);
        System.arraycopy(s, 0, b, p + 2, s.length);
        return p + 2 + s.length;
    }

    private static int bytes32(byte[] b, int p, byte[] s) {
        Wire.put32(b, p, s.length);
        System.arraycopy(s, 0, b, p + 4, s.length);
        return p + 4 + s.length;
    }

    private void ensure(int more) {
        if (len + more <= buf.length) return;
        long cap = Math.max((long) len + more, (long) buf.length * 2);
        byte[] nb = new byte[(int) Math.min(cap, Integer.MAX_VALUE - 8)];
        System.arraycopy(buf, 0, nb, 0, len);
        buf = nb;
    }
}
