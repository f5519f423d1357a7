package io.sluice.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The shared vectors against the Java client's reader, encoder and local record checks. */
class VectorsTest {
    /** Feeds {@code data} in the given chunk sizes; returns the frames, and the error code (or 0) last. */
    private static Object[] readAll(byte[] data, int[] chunks) {
        FrameReader r = new FrameReader();
        List<ServerFrame> frames = new ArrayList<>();
        int off = 0;
        for (int size : chunks) {
            r.feed(data, off, size);
            off += size;
            while (true) {
                ServerFrame f;
                try {
                    f = r.next();
                } catch (SluiceException e) {
                    return new Object[] {frames, e.code().code(), r.pending()};
                }
                if (f == null) break;
                frames.add(f);
            }
        }
        return new Object[] {frames, 0, r.pending()};
    }

    @Test
    void everyServerVectorWholeByteByByteAndSplit() {
        Random rng = new Random(7);
        int checked = 0;
        for (Vectors.Vector v : Vectors.ALL) {
            if (!v.direction().equals("s2c")) continue;
            checked++;
            List<int[]> splits = new ArrayList<>();
            splits.add(new int[] {v.frame().length});
            int[] ones = new int[v.frame().length];
            java.util.Arrays.fill(ones, 1);
            splits.add(ones);
            for (int s = 0; s < 5; s++) {
                List<Integer> sizes = new ArrayList<>();
                for (int left = v.frame().length; left > 0; ) {
                    int n = 1 + rng.nextInt(Math.min(40, left));
                    sizes.add(n);
                    left -= n;
                }
                splits.add(sizes.stream().mapToInt(Integer::intValue).toArray());
            }
            for (int[] chunks : splits) {
                Object[] got = readAll(v.frame(), chunks);
                int frames = ((List<?>) got[0]).size(), code = (Integer) got[1], pending = (Integer) got[2];
                String what = v.name() + " in " + chunks.length + " chunks";
                if (v.expect().equals("ok")) {
                    assertEquals(List.of(1, 0, 0), List.of(frames, code, pending), what);
                } else if (v.error() >= 0) {
                    assertEquals(List.of(0, v.error()), List.of(frames, code), what);
                } else {
                    assertEquals(List.of(0, 0, v.frame().length), List.of(frames, code, pending), what);
                }
            }
        }
        assertTrue(checked >= 25, "only " + checked + " s2c vectors");
    }

    private static ServerFrame one(String name) {
        FrameReader r = new FrameReader();
        byte[] f = Vectors.named(name).frame();
        r.feed(f, 0, f.length);
        ServerFrame out = r.next();
        assertNotNull(out, name);
        return out;
    }

    @Test
    void serverFrameFields() {
        ServerFrame h = one("hello_ok");
        assertEquals(1, h.requestId);
        assertEquals("sluice/0.1.0", h.serverName);
        assertEquals(Limits.DEFAULTS, h.limits);
        assertEquals(0, one("hello_ok_without_session_limits").limits.maxUnackedBytes());
        assertEquals("sluice/9", one("hello_ok_future_fields").serverName);
        // The server's own limits, not section 6's reference values, are the ones the client keeps.
        Limits own = one("hello_ok_own_limits").limits;
        assertEquals(List.of(65536L, 100L, 64, 16777216L, 0L, 10L), List.of(own.maxFrameBytes(), own.maxRecordsPerFrame(),
                own.maxKeyBytes(), own.maxUnackedBytes(), own.idleTimeoutMs(), own.maxConnections()));
        ServerFrame c = one("ack_contract_codes");
        assertEquals(List.of(ErrorCode.CONTRACT_VIOLATION, ErrorCode.UNKNOWN_TOPIC),
                List.of(ErrorCode.of(c.failCode[0]), ErrorCode.of(c.failCode[1])));
        ServerFrame a = one("ack_one_failed");
        assertEquals(List.of(9, 3L, 1, 21), List.of(a.requestId, a.ackCount, a.failIndex[0], a.failCode[0]));
        ServerFrame u = one("ack_unknown_code");
        assertEquals(ErrorCode.UNKNOWN, ErrorCode.of(u.failCode[0]));
        ServerFrame e = one("error_overloaded");
        assertEquals(List.of(40, false, true, "slow down"), List.of(e.errorCode, e.closing(), e.retriable(), e.message));
        ServerFrame m = one("error_bad_magic");
        assertEquals(List.of(1, true, "bad magic"), List.of(m.errorCode, m.closing(), m.message));
        assertArrayEquals("hi".getBytes(StandardCharsets.US_ASCII), one("pong_hi").body);
        assertEquals("{\"uptimeSeconds\":1}", new String(one("stats_reply").body, StandardCharsets.UTF_8));
    }

    @Test
    void controlFramesAreByteExact() {
        assertArrayEquals(Vectors.named("hello_v1").frame(), Wire.hello(1, 1, 1, "c"));
        assertArrayEquals(Vectors.named("hello_range_1_3").frame(), Wire.hello(1, 1, 3, "libsluice/9"));
        assertArrayEquals(Vectors.named("ping_hi").frame(), Wire.ping(7, "hi".getBytes(StandardCharsets.US_ASCII)));
        assertArrayEquals(Vectors.named("ping_empty").frame(), Wire.ping(8, new byte[0]));
        assertArrayEquals(Vectors.named("stats").frame(), Wire.stats(10));
        assertThrows(IllegalArgumentException.class, () -> Wire.ping(1, new byte[257]));
    }

    private static byte[] frameOf(int ackLevel, int requestId, OutRecord... records) {
        BatchBuilder b = new BatchBuilder(ackLevel, 64);
        for (OutRecord r : records) b.add(r);
        b.finish();
        byte[] f = java.util.Arrays.copyOf(b.buffer(), b.frameLength());
        Wire.setRequestId(f, requestId);
        return f;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void publishFramesAreByteExact() {
        OutRecord plain = new OutRecord(utf8("t"), utf8("p1"), new byte[0], 0, null, null, utf8("v"));
        assertArrayEquals(Vectors.named("publish_one_plain").frame(), frameOf(0, 2, plain));
        assertArrayEquals(Vectors.named("publish_ack_none").frame(), frameOf(2, 2, plain));
        OutRecord full = new OutRecord(utf8("game.events-v1_x"), utf8("player-42"), utf8("login"), 1764412800000L,
                new byte[][] {utf8("source"), utf8("trace")}, new byte[][] {utf8("svc-a"), {0, 1}},
                utf8("{\"level\":3}"));
        full.idMsb = 0x0102030405060708L;
        full.idLsb = 0x090a0b0c0d0e0f10L;
        assertArrayEquals(Vectors.named("publish_full_record").frame(), frameOf(1, 2, full));
        OutRecord[] fifty = new OutRecord[50];
        for (int i = 0; i < 50; i++) {
            fifty[i] = new OutRecord(utf8("t"), utf8("player-" + i), new byte[0], 0, null, null, utf8("event " + i));
        }
        byte[] f = frameOf(0, 3, fifty);
        byte[] payload = java.util.Arrays.copyOfRange(f, Wire.HDR, f.length);
        assertArrayEquals(Vectors.named("publish_zstd_50").plain(), payload);
        byte[] z = Compressor.create(1).compressFrame(f, f.length);
        assertNotNull(z, "50 similar records compress");
        assertEquals(Wire.FLAG_COMPRESSED, Wire.get16(z, 4));
        byte[] zp = java.util.Arrays.copyOfRange(z, Wire.HDR, z.length);
        assertEquals(payload.length, com.github.luben.zstd.Zstd.decompressedSize(zp), "declares its content size");
        assertArrayEquals(payload, com.github.luben.zstd.Zstd.decompress(zp, payload.length));
        Random rng = new Random(1);
        byte[] noise = new byte[256];
        rng.nextBytes(noise);
        OutRecord random = new OutRecord(utf8("t"), utf8("p1"), new byte[0], rng.nextLong() >>> 1, null, null, noise);
        random.idMsb = rng.nextLong();
        random.idLsb = rng.nextLong();
        byte[] small = frameOf(0, 2, random);
        assertNull(Compressor.create(1).compressFrame(small, small.length), "a frame zstd does not shrink goes plain");
    }

    @Test
    void localChecksGiveTheVectorsRecordCodes() {
        int checked = 0;
        for (Vectors.Vector v : Vectors.ALL) {
            int[] want = v.recordCodes();
            if (want == null) continue;
            byte[] payload = java.util.Arrays.copyOfRange(v.frame(), Wire.HDR, v.frame().length);
            if ((Wire.get16(v.frame(), 4) & Wire.FLAG_COMPRESSED) != 0) {
                payload = com.github.luben.zstd.Zstd.decompress(payload,
                        (int) com.github.luben.zstd.Zstd.decompressedSize(payload));
            }
            PublishDecoder d = new PublishDecoder(payload);
            assertEquals(want.length, d.records.size(), v.name());
            for (int i = 0; i < want.length; i++) {
                int got = 0;
                try {
                    RecordCheck.check(d.records.get(i), Limits.DEFAULTS, Limits.DEFAULTS.maxFrameBytes());
                } catch (SluiceException e) {
                    got = e.code().code();
                }
                assertEquals(want[i], got, v.name() + " record " + i);
                checked++;
            }
        }
        assertTrue(checked >= 40, "only " + checked + " records checked");
    }

    @Test
    void stringsWithUnpairedSurrogatesAreNotUtf8() {
        assertNull(Utf8.encode("a\ud800b"));
        assertNull(Utf8.encode("\udc00"));
        assertArrayEquals("p\u00e4\ud834\udd1e".getBytes(StandardCharsets.UTF_8), Utf8.encode("p\u00e4\ud834\udd1e"));
        if (!Utf8.valid(Utf8.encode("player-\u20ac"))) fail("a euro sign is UTF-8");
    }
}
