package io.sluice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Breaks of the connection against the scripted server: unacknowledged batches are resent in order with their
 * event ids, and every reply still readable on the old connection is settled first (no duplicates).
 */
class ResendTest extends FakeServerTest {
    /** Every record the server read, by value, with how many times and on which connections. */
    private Map<String, List<Integer>> receipts() {
        Map<String, List<Integer>> m = new HashMap<>();
        for (String r : server.received()) {
            String[] p = r.split(":", 3);
            m.computeIfAbsent(p[2], k -> new ArrayList<>()).add(Integer.parseInt(p[0]));
        }
        return m;
    }

    private static Options oneRecordBatches() {
        return new Options().maxBatchRecords(1).linger(Duration.ZERO).backoff(Duration.ofMillis(10));
    }

    @Test
    void unackedBatchesAreResentInOrderWithTheirEventIdsAfterTheServerVanishes() throws Exception {
        AtomicInteger n = new AtomicInteger();
        server.script = (c, f) -> {
            if (c.number == 1 && n.incrementAndGet() == 3) c.close(); // read 3, acked none: all in doubt
            else if (c.number > 1) c.ack(f.requestId(), 1);
        };
        try (SluiceClient c = SluiceClient.connect(server.path, oneRecordBatches())) {
            List<CompletableFuture<UUID>> fs = new ArrayList<>();
            for (int i = 0; i < 3; i++) fs.add(c.publish("t", "k", ("v" + i).getBytes(StandardCharsets.UTF_8)));
            c.flush(Duration.ofSeconds(10));
            List<String> second = new ArrayList<>();
            List<UUID> ids = new ArrayList<>();
            for (FakeServer.Frame f : server.publishes) {
                if (f.connection() == 2) {
                    OutRecord r = f.publish().records.get(0);
                    second.add(new String(r.value, StandardCharsets.UTF_8));
                    ids.add(new UUID(r.idMsb, r.idLsb));
                }
            }
            assertEquals(List.of("v0", "v1", "v2"), second, "resent in the original order");
            assertEquals(fs.stream().map(CompletableFuture::join).toList(), ids, "with the same event ids");
        }
    }

    @Test
    void repliesSentBeforeShuttingDownAreSettledNotResent() throws Exception {
        AtomicInteger n = new AtomicInteger();
        List<FakeServer.Frame> first = new ArrayList<>();
        server.script = (c, f) -> {
            if (c.number > 1) {
                c.ack(f.requestId(), 1);
                return;
            }
            first.add(f);
            if (n.incrementAndGet() == 5) { // the gateway's SIGTERM: ack what it read, SHUTTING_DOWN, close
                for (FakeServer.Frame g : first) c.ack(g.requestId(), 1);
                c.error(0, 41, Wire.ERR_CLOSING | Wire.ERR_RETRIABLE, "shutting down");
                c.close();
            }
        };
        try (SluiceClient c = SluiceClient.connect(server.path, oneRecordBatches())) {
            for (int i = 0; i < 20; i++) c.publish("t", "k", ("v" + i).getBytes(StandardCharsets.UTF_8));
            c.flush(Duration.ofSeconds(10));
        }
        Map<String, List<Integer>> got = receipts();
        assertEquals(20, got.size());
        for (int i = 0; i < 20; i++) {
            assertEquals(1, got.get("v" + i).size(), "v" + i + " was sent once (connections " + got.get("v" + i) + ")");
        }
        assertEquals(2, server.connections());
    }

    @Test
    void aFailedWriteStillReadsTheAcksWaitingInTheSocket() throws Exception {
        // The C bug: on EPIPE it requeued everything without reading the ACKs already received. Here the
        // server reads 20 batches, answers them in one write and hangs up while the client is still writing.
        List<FakeServer.Frame> first = new ArrayList<>();
        server.script = (c, f) -> {
            if (c.number > 1) {
                c.ack(f.requestId(), 1);
                return;
            }
            first.add(f);
            if (first.size() == 20) {
                java.io.ByteArrayOutputStream acks = new java.io.ByteArrayOutputStream();
                for (FakeServer.Frame g : first) acks.write(FakeServer.ackFrame(g.requestId(), 1));
                c.send(acks.toByteArray());
                c.close();
            }
        };
        int n = 60;
        byte[] big = new byte[100_000];
        // Hold the first connection's reader back until the write has failed, so the ACKs are still unread in
        // the socket when the client learns of the break (the moment the C client requeued everything).
        ReplyReader.testHook = (e, c) -> {
            if (server.connections() != 1) return;
            Await.until("the client's write fails", () -> {
                e.lock.lock();
                try {
                    return c.writeFailed || e.conn != c;
                } finally {
                    e.lock.unlock();
                }
            }, 10_000);
        };
        try (SluiceClient c = SluiceClient.connect(server.path, oneRecordBatches())) {
            List<CompletableFuture<UUID>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] v = big.clone();
                byte[] tag = ("v" + i + ":").getBytes(StandardCharsets.UTF_8);
                System.arraycopy(tag, 0, v, 0, tag.length);
                fs.add(c.publish("t", "k", v));
            }
            c.flush(Duration.ofSeconds(20));
            fs.forEach(CompletableFuture::join);
        } finally {
            ReplyReader.testHook = null;
        }
        Map<String, List<Integer>> got = new HashMap<>();
        for (String r : server.received()) {
            String v = r.split(":", 3)[2];
            got.computeIfAbsent(v.substring(0, v.indexOf(':')), k -> new ArrayList<>()).add(r.charAt(0) - '0');
        }
        for (int i = 0; i < 20; i++) assertEquals(List.of(1), got.get("v" + i), "v" + i + " acked on connection 1, never resent");
        for (int i = 20; i < n; i++) assertEquals(1, got.get("v" + i).size(), "v" + i + " once: " + got.get("v" + i));
        assertTrue(server.connections() >= 2);
    }

    @Test
    void aLateReplyToATimedOutStatsIsIgnoredAndBreaksNothing() throws Exception {
        // The reviewer's case: a STATS reply that comes after stats() gave up was a "reply for unknown request
        // id", a protocol break that skips reading what is left, so the ACK behind it was never read and its
        // batch was published twice. Like the C client, the late reply is dropped and the connection goes on.
        List<FakeServer.Frame> held = new ArrayList<>();
        List<FakeServer.Conn> conns = new ArrayList<>();
        server.script = (c, f) -> {
            if (c.number > 1) { // only if the connection broke: answer, so the resend shows in the count
                if (f.type() == Wire.PUBLISH) c.ack(f.requestId(), 1);
                else if (f.type() == Wire.STATS) c.send(FakeServer.statsReply(f.requestId(), "{}"));
                return;
            }
            synchronized (held) { // connection 1 answers nothing until the test says so
                held.add(f);
                conns.add(c);
            }
        };
        try (SluiceClient c = SluiceClient.connect(server.path, oneRecordBatches())) {
            CompletableFuture<UUID> published = c.publish("t", "k", "v".getBytes(StandardCharsets.UTF_8));
            Await.until("the server reads the PUBLISH", () -> server.publishes.size() == 1, 5_000);
            SluiceException timeout = assertThrows(SluiceException.class, () -> c.stats(Duration.ofMillis(200)));
            assertEquals(ErrorCode.TIMEOUT, timeout.code());
            Await.until("the server reads the STATS", () -> {
                synchronized (held) {
                    return held.size() == 2;
                }
            }, 5_000);
            FakeServer.Frame pub = held.get(0), stats = held.get(1);
            assertEquals(Wire.PUBLISH, pub.type());
            assertEquals(Wire.STATS, stats.type());
            java.io.ByteArrayOutputStream late = new java.io.ByteArrayOutputStream();
            late.write(FakeServer.statsReply(stats.requestId(), "{\"late\":true}")); // after its caller gave up
            late.write(FakeServer.ackFrame(pub.requestId(), 1)); // and the ACK behind it, in the same write
            conns.get(0).send(late.toByteArray());
            published.get(5, java.util.concurrent.TimeUnit.SECONDS); // completed by the ACK
            c.flush(Duration.ofSeconds(5));
            assertTrue(c.isConnected(), "the connection is still up");
        }
        assertEquals(List.of(1), server.publishes.stream().map(FakeServer.Frame::connection).toList(),
                "the batch was sent once, never resent (PUBLISH frames by connection)");
        assertEquals(1, server.connections(), "the late reply did not break the connection");
    }

    @Test
    void aMalformedReplyBreaksTheConnectionAndTheBatchIsResent() throws Exception {
        server.script = (c, f) -> {
            if (c.number == 1) c.ack(f.requestId(), 7); // the batch has 1 record: a broken ACK (section 3.3)
            else c.ack(f.requestId(), 1);
        };
        try (SluiceClient c = SluiceClient.connect(server.path, oneRecordBatches())) {
            c.publish("t", "k", "v".getBytes(StandardCharsets.UTF_8));
            c.flush(Duration.ofSeconds(10));
        }
        assertEquals(List.of(1, 2), server.publishes.stream().map(FakeServer.Frame::connection).toList());
    }
}
