package io.sluice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The client against the scripted fake server: handshake, batching, ack levels, failures, backpressure. */
class ClientTest extends FakeServerTest {
    static ErrorCode codeOf(CompletableFuture<?> f) {
        CompletionException e = assertThrows(CompletionException.class, f::join);
        return ((SluiceException) e.getCause()).code();
    }

    @Test
    void handshakeTakesTheAnnouncedLimitsAndChecksRecordsAgainstThem() {
        server.limits = new Limits(1, 4096, 8192, 3, 500, 8, 2, 100, 1 << 20, 5000, 0, 10);
        try (SluiceClient c = SluiceClient.connect(server.path)) {
            assertEquals("fake/1", c.serverName());
            assertEquals(server.limits, c.limits());
            assertEquals(ErrorCode.INVALID_KEY, codeOf(c.publish("t", "123456789", b("v"))));
            assertEquals(ErrorCode.INVALID_KEY, codeOf(c.publish("t", "", b("v"))));
            assertEquals(ErrorCode.INVALID_TOPIC, codeOf(c.publish("bad topic", "k", b("v"))));
            assertEquals(ErrorCode.RECORD_TOO_LARGE, codeOf(c.publish("t", "k", new byte[600])));
            assertEquals(ErrorCode.INVALID_HEADERS, codeOf(c.publish("t", "k", b("v"),
                    List.of(Header.of("event-id", "x")), null, null, 0)));
            assertEquals(ErrorCode.INVALID_HEADERS, codeOf(c.publish("t", "k", b("v"),
                    List.of(Header.of("a", "1"), Header.of("b", "2"), Header.of("c", "3")), null, null, 0)));
            assertEquals(ErrorCode.INVALID_TIMESTAMP, codeOf(c.publish("t", "k", b("v"), null, null, null, -5)));
            assertEquals(ErrorCode.INVALID_EVENT_TYPE, codeOf(c.publish("t", "k", b("v"), null, "\ud800", null, 0)));
            List<CompletableFuture<UUID>> fs = new ArrayList<>();
            for (int i = 0; i < 7; i++) fs.add(c.publish("t", "k" + i, b("v" + i)));
            c.flush(Duration.ofSeconds(5));
            fs.forEach(CompletableFuture::join);
            assertEquals(3, server.publishes.size(), "7 records in batches of at most the announced 3");
            assertTrue(server.publishes.stream().allMatch(f -> f.publish().records.size() <= 3));
            assertEquals(7, server.received().size(), "only the valid records were sent");
        }
    }

    @Test
    void batchesAreCutByRecordsBytesAndLinger() throws Exception {
        Options o = new Options().maxBatchRecords(2).linger(Duration.ofSeconds(30));
        try (SluiceClient c = SluiceClient.connect(server.path, o)) {
            for (int i = 0; i < 5; i++) c.publish("t", "k", b("v" + i));
            Await.until("two full batches arrive", () -> server.publishes.size() == 2, 5000);
            c.flush(Duration.ofSeconds(5));
            assertEquals(List.of(2, 2, 1), server.publishes.stream().map(f -> f.publish().records.size()).toList());
        }
        server.publishes.clear();
        try (SluiceClient c = SluiceClient.connect(server.path, new Options().maxBatchBytes(300))) {
            for (int i = 0; i < 4; i++) c.publish("t", "k", new byte[100]);
            c.flush(Duration.ofSeconds(5));
            assertEquals(List.of(2, 2), server.publishes.stream().map(f -> f.publish().records.size()).toList());
        }
        server.publishes.clear();
        try (SluiceClient c = SluiceClient.connect(server.path, new Options().linger(Duration.ofMillis(20)))) {
            c.publish("t", "k", b("alone")).get(5, TimeUnit.SECONDS); // no flush: the linger sends it
            assertEquals(1, server.publishes.size());
        }
    }

    @Test
    void theThreeAckLevels() throws Exception {
        for (AckLevel level : AckLevel.values()) {
            server.publishes.clear();
            try (SluiceClient c = SluiceClient.connect(server.path, new Options().ackLevel(level))) {
                UUID id = c.publish("t", "k", b("v")).get(5, TimeUnit.SECONDS);
                assertEquals(4, id.version(), "a random UUIDv4 event id");
                // At NONE the future completes once written, maybe before the server's thread has recorded it.
                Await.until("the server records the PUBLISH", () -> !server.publishes.isEmpty(), 5_000);
                FakeServer.Frame f = server.publishes.get(0);
                assertEquals(level.wire(), f.publish().ackLevel);
                OutRecord r = f.publish().records.get(0);
                assertEquals(id, new UUID(r.idMsb, r.idLsb), "the future carries the id that was sent");
            }
        }
        // At NONE the server only answers failures: they reach the listener, naming the record.
        List<PublishFailure> failures = new CopyOnWriteArrayList<>();
        server.script = (conn, f) -> conn.ack(f.requestId(), 2, 1, 24);
        Options o = new Options().ackLevel(AckLevel.NONE).failureListener(failures::add).maxBatchRecords(2);
        try (SluiceClient c = SluiceClient.connect(server.path, o)) {
            CompletableFuture<UUID> k0 = c.publish("t", "k0", b("v"));
            c.publish("t", "k1", b("v")); // one batch of two; at NONE, k0 completes once written
            k0.get(5, TimeUnit.SECONDS);
            Await.until("the failure report arrives", () -> failures.size() == 1, 5000);
            assertEquals(List.of("k1", ErrorCode.TOPIC_NOT_ALLOWED), List.of(failures.get(0).key(), failures.get(0).code()));
        }
    }

    @Test
    void perRecordFailuresCarryTheirCodes() {
        List<PublishFailure> failures = new CopyOnWriteArrayList<>();
        server.script = (conn, f) -> conn.ack(f.requestId(), 3, 0, 30, 2, 999);
        try (SluiceClient c = SluiceClient.connect(server.path, new Options().failureListener(failures::add))) {
            CompletableFuture<UUID> a = c.publish("t", "a", b("1")), ok = c.publish("t", "b", b("2")),
                    z = c.publish("t", "c", b("3"));
            SluiceException e = assertThrows(SluiceException.class, () -> c.flush(Duration.ofSeconds(5)));
            assertEquals(ErrorCode.RECORDS_FAILED, e.code());
            assertEquals(ErrorCode.DELIVERY_FAILED, codeOf(a));
            SluiceException unknown = (SluiceException) assertThrows(CompletionException.class, z::join).getCause();
            assertEquals(List.of(ErrorCode.UNKNOWN, 999, false), List.of(unknown.code(), unknown.wireCode(), unknown.retriable()));
            ok.join();
            // The reader completes a record's future, then calls the listener: z's report may be a moment behind.
            Await.until("both failure reports arrive", () -> failures.size() >= 2, 5_000);
            assertEquals(2, failures.size());
            assertTrue(failures.get(0).retriable(), "DELIVERY_FAILED is retriable");
            assertEquals(List.of("t", "a"), List.of(failures.get(0).topic(), failures.get(0).key()));
            c.flush(Duration.ofSeconds(5)); // reported once
        }
    }

    @Test
    void anErrorRefusesTheBatchOrHasItResent() {
        List<Integer> seen = new CopyOnWriteArrayList<>();
        server.script = (conn, f) -> {
            seen.add(f.requestId());
            String v = new String(f.publish().records.get(0).value, StandardCharsets.UTF_8);
            if (v.equals("bad")) conn.error(f.requestId(), 7, 0, "broken");
            else if (v.equals("busy") && seen.size() < 3) conn.error(f.requestId(), 40, Wire.ERR_RETRIABLE, "slow down");
            else conn.ack(f.requestId(), f.publish().records.size());
        };
        Options o = new Options().backoff(Duration.ofMillis(10));
        try (SluiceClient c = SluiceClient.connect(server.path, o)) {
            CompletableFuture<UUID> bad = c.publish("t", "k", b("bad"));
            SluiceException e = assertThrows(SluiceException.class, () -> c.flush(Duration.ofSeconds(5)));
            assertEquals(ErrorCode.RECORDS_FAILED, e.code());
            assertEquals(ErrorCode.MALFORMED_PAYLOAD, codeOf(bad), "ERROR 7 refuses its whole batch");
            assertEquals(1, server.publishes.size(), "and it is not resent");
        }
        server.publishes.clear();
        try (SluiceClient c = SluiceClient.connect(server.path, o)) {
            UUID id = c.publish("t", "k", b("busy")).join();
            assertEquals(2, server.publishes.size(), "OVERLOADED: the same batch sent again");
            List<UUID> ids = server.publishes.stream().map(f -> new UUID(f.publish().records.get(0).idMsb,
                    f.publish().records.get(0).idLsb)).toList();
            assertEquals(List.of(id, id), ids, "with the same event id");
            assertNotEquals(server.publishes.get(0).requestId(), server.publishes.get(1).requestId());
        }
    }

    @Test
    void backpressureBlocksThenFailsWithTimeout() throws Exception {
        List<FakeServer.Frame> held = new CopyOnWriteArrayList<>();
        List<FakeServer.Conn> conns = new CopyOnWriteArrayList<>();
        server.script = (conn, f) -> {
            held.add(f);
            conns.add(conn);
        };
        Options o = new Options().maxUnackedBytes(4096).maxBatchRecords(1).linger(Duration.ZERO)
                .publishTimeout(Duration.ofMillis(300));
        try (SluiceClient c = SluiceClient.connect(server.path, o)) {
            List<CompletableFuture<UUID>> taken = new ArrayList<>();
            CompletableFuture<UUID> refused = null;
            long t0 = System.nanoTime();
            for (int i = 0; i < 100 && refused == null; i++) {
                CompletableFuture<UUID> f = c.publish("t", "k", new byte[500]);
                if (f.isCompletedExceptionally()) refused = f;
                else taken.add(f);
            }
            assertTrue(refused != null, "publish fails once 4096 bytes are unacknowledged");
            assertEquals(ErrorCode.TIMEOUT, codeOf(refused));
            assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(300), "it blocked for publishTimeout first");
            assertTrue(taken.size() >= 5 && taken.size() <= 8, taken.size() + " records taken under 4096 bytes");
            Await.until("the taken batches reach the server", () -> held.size() == taken.size(), 5000);
            for (FakeServer.Frame f : held) conns.get(0).ack(f.requestId(), 1);
            for (CompletableFuture<UUID> f : taken) f.get(5, TimeUnit.SECONDS);
            server.script = (conn, f) -> conn.ack(f.requestId(), 1);
            c.publish("t", "k", new byte[500]).get(5, TimeUnit.SECONDS); // room again
        }
    }

    @Test
    void threadsPublishConcurrentlyAndEachKeepsItsOrder() throws Exception {
        int threads = 8, each = 2000;
        try (SluiceClient c = SluiceClient.connect(server.path, new Options().maxBatchRecords(50))) {
            List<Thread> ts = new ArrayList<>();
            List<CompletableFuture<UUID>> all = new CopyOnWriteArrayList<>();
            for (int t = 0; t < threads; t++) {
                String key = "thread-" + t;
                Thread th = new Thread(() -> {
                    for (int i = 0; i < each; i++) all.add(c.publish("t", key, b(Integer.toString(i))));
                });
                ts.add(th);
                th.start();
            }
            for (Thread th : ts) th.join();
            c.flush(Duration.ofSeconds(20));
            Set<UUID> ids = new HashSet<>();
            for (CompletableFuture<UUID> f : all) ids.add(f.join());
            assertEquals(threads * each, ids.size(), "every record acked, with distinct event ids");
        }
        int[] next = new int[threads];
        for (String r : server.received()) {
            String[] p = r.split(":");
            int t = Integer.parseInt(p[1].substring(7));
            assertEquals(next[t]++, Integer.parseInt(p[2]), "thread " + t + "'s records in its order, once each");
        }
        for (int t = 0; t < threads; t++) assertEquals(each, next[t]);
    }

    @Test
    void closeFailsWhatIsStillHeldAndLaterPublishes() {
        server.script = (conn, f) -> { }; // never acks
        SluiceClient c = SluiceClient.connect(server.path, new Options().closeTimeout(Duration.ofMillis(100)));
        CompletableFuture<UUID> f = c.publish("t", "k", b("v"));
        c.close();
        assertEquals(ErrorCode.CLOSED, codeOf(f));
        assertEquals(ErrorCode.CLOSED, codeOf(c.publish("t", "k", b("v"))));
        assertFalse(c.isConnected());
    }

    @Test
    void connectFailsClearlyOrLazily() throws Exception {
        Path missing = dir.resolve("nobody.sock");
        SluiceException e = assertThrows(SluiceException.class, () -> SluiceClient.connect(missing));
        assertEquals(ErrorCode.IO, e.code());
        try (SluiceClient c = SluiceClient.connect(server.path)) {
            c.ping(Duration.ofSeconds(5));
        }
        Options lazy = new Options().connectLazily(true).backoff(Duration.ofMillis(10)).backoffMax(Duration.ofMillis(50));
        try (SluiceClient c = SluiceClient.connect(missing, lazy)) {
            CompletableFuture<UUID> f = c.publish("t", "k", b("waits"));
            SluiceException t = assertThrows(SluiceException.class, () -> c.flush(Duration.ofMillis(200)));
            assertEquals(ErrorCode.TIMEOUT, t.code());
            assertTrue(t.getMessage().contains("not connected"), t.getMessage());
            assertFalse(f.isDone(), "the record is held while the gateway cannot be reached");
        }
    }
}
