package io.sluice.client;

import java.util.ArrayList;
import java.util.List;

/** Test-only: decodes a PUBLISH payload into records (what a server reads), for vectors and the fake server. */
final class PublishDecoder {
    int ackLevel;
    final List<OutRecord> records = new ArrayList<>();

    /** Decodes; throws IllegalArgumentException when the structure is broken. */
    PublishDecoder(byte[] p) {
        try {
            ackLevel = p[0] & 0xff;
            long count = Wire.get32(p, 2);
            int at = 6;
            for (long i = 0; i < count; i++) {
                byte[] topic = str16(p, at);
                at += 2 + topic.length;
                byte[] key = str16(p, at);
                at += 2 + key.length;
                byte[] type = str16(p, at);
                at += 2 + type.length;
                long msb = Wire.get32(p, at) << 32 | Wire.get32(p, at + 4);
                long lsb = Wire.get32(p, at + 8) << 32 | Wire.get32(p, at + 12);
                long ts = Wire.get32(p, at + 16) << 32 | Wire.get32(p, at + 20);
                at += 24;
                int nh = Wire.get16(p, at);
                at += 2;
                byte[][] names = new byte[nh][], values = new byte[nh][];
                for (int h = 0; h < nh; h++) {
                    names[h] = str16(p, at);
                    at += 2 + names[h].length;
                    values[h] = bytes32(p, at);
                    at += 4 + values[h].length;
                }
                byte[] value = bytes32(p, at);
                at += 4 + value.length;
                OutRecord r = new OutRecord(topic, key, type, ts, names, values, value);
                r.idMsb = msb;
                r.idLsb = lsb;
                records.add(r);
            }
            if (at != p.length) throw new IllegalArgumentException("trailing bytes");
        } catch (ArrayIndexOutOfBoundsException | NegativeArraySizeException e) {
            throw new IllegalArgumentException("runs past the end", e);
        }
    }

    private static byte[] str16(byte[] p, int at) {
        int n = Wire.get16(p, at);
        return java.util.Arrays.copyOfRange(check(p, at + 2, n), at + 2, at + 2 + n);
    }

    private static byte[] bytes32(byte[] p, int at) {
        long n = Wire.get32(p, at);
        if (n > p.length) throw new IllegalArgumentException("runs past the end");
        return java.util.Arrays.copyOfRange(check(p, at + 4, (int) n), at + 4, at + 4 + (int) n);
    }

    private static byte[] check(byte[] p, int from, int n) {
        if (from + n > p.length) throw new IllegalArgumentException("runs past the end");
        return p;
    }
}
