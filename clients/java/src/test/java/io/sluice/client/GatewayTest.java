package io.sluice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** The Java client against a real gateway and broker, read back by an independent librdkafka consumer. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayTest {
    LiveStack stack;

    @BeforeAll
    void start(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(LiveStack.available() || System.getenv("SLUICE_LIVE_REQUIRED") != null,
                "live tests need .deps/bin/tansu, .build/debug/sluice and build/count_events (make build)");
        stack = new LiveStack(dir);
    }

    @AfterAll
    void stop() throws Exception {
        if (stack != null) stack.close();
    }

    /** A value count_events understands: the bench workload's JSON with the per-key sequence number. */
    static byte[] benchValue(String key, long seq) {
        String v = "{\"player\":\"" + key + "\",\"seq\":" + seq + ",\"type\":\"bench\",\"data\":\"java\"}";
        return v.getBytes(StandardCharsets.UTF_8);
    }

    static String key(long seq, int keys) {
        return String.format("player-%06d", (seq * 7919) % keys);
    }

    @Test
    void everyAckLevelReachesKafkaWithItsEventIds() throws Exception {
        stack.createTopic("java-acks", 4);
        int keys = 50;
        long seq = 0;
        for (AckLevel level : AckLevel.values()) {
            try (SluiceClient c = SluiceClient.connect(stack.socket, new Options().ackLevel(level))) {
                assertTrue(c.serverName().startsWith("sluice/"), c.serverName());
                c.ping(Duration.ofSeconds(5));
                List<CompletableFuture<UUID>> fs = new ArrayList<>();
                for (int i = 0; i < 300; i++, seq++) fs.add(c.publish("java-acks", key(seq, keys), benchValue(key(seq, keys), seq)));
                c.flush(Duration.ofSeconds(30));
                for (CompletableFuture<UUID> f : fs) f.get(5, TimeUnit.SECONDS);
                String stats = c.stats(Duration.ofSeconds(5));
                assertTrue(stats.contains("\"java-acks\""), "STATS names the topic: " + stats);
            }
        }
        Map<String, String> got = stack.countEvents("java-acks", seq, keys);
        assertEquals(List.of(Long.toString(seq), Long.toString(seq), "0", "0"),
                List.of(got.get("records"), got.get("distinct"), got.get("duplicates"), got.get("reordered")), got.toString());
    }

    @Test
    void aGracefulRestartUnderDurableLoadLosesDuplicatesAndReordersNothing() throws Exception {
        // Steady durable load; SIGTERM the gateway, start a new one on the same spool; read everything back.
        String topic = "java-restart";
        stack.createTopic(topic, 8);
        int keys = 1000, rate = 5000;
        long total = 40_000; // 8 s at 5,000 events/s
        AtomicLong sent = new AtomicLong();
        List<PublishFailure> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        Options o = new Options().failureListener(failures::add).publishTimeout(Duration.ofSeconds(60));
        try (SluiceClient c = SluiceClient.connect(stack.socket, o)) {
            List<CompletableFuture<UUID>> fs = new ArrayList<>();
            Thread load = new Thread(() -> {
                long t0 = System.nanoTime();
                for (long s = 0; s < total; s++) {
                    long due = t0 + s * 1_000_000_000L / rate;
                    while (System.nanoTime() < due) Thread.onSpinWait();
                    String k = key(s, keys);
                    fs.add(c.publish(topic, k, benchValue(k, s)));
                    sent.incrementAndGet();
                }
            }, "load");
            load.start();
            Await.until("the load has run 2 s", () -> sent.get() >= 2L * rate, 20_000);
            assertEquals(0, stack.stopGateway(), "the gateway exits 0 after SIGTERM");
            long atStop = sent.get();
            stack.startGateway();
            load.join(TimeUnit.SECONDS.toMillis(60));
            assertTrue(atStop < total / 2, "the restart happened in the middle of the load (" + atStop + " sent)");
            c.flush(Duration.ofSeconds(60));
            for (CompletableFuture<UUID> f : fs) f.get(5, TimeUnit.SECONDS);
        }
        assertEquals(List.of(), failures, "no record was refused");
        Map<String, String> got = stack.countEvents(topic, total, keys);
        assertEquals(Long.toString(total), got.get("seqs_from_min"), "0 lost: " + got);
        assertEquals("0", got.get("duplicates"), "0 duplicates by event id: " + got);
        assertEquals("0", got.get("reordered"), "0 reordered per key: " + got);
        assertEquals(Long.toString(total), got.get("records"), got.toString());
    }
}
