package io.sluice.bench;

import io.sluice.client.Options;
import io.sluice.client.SluiceClient;
import io.sluice.client.SluiceException;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Java client's publisher for {@code make bench} (scripts/bench_java.sh): the workload of bench/workload.h
 * byte for byte (key "player-NNNNNN" of --keys keys by the same xorshift, a --value-bytes JSON-like value),
 * durable acks, the same options and result line as bench/sluice_publisher.c:
 *
 * <pre>
 *   --socket P --topic T [--events N (1000000)] [--keys K (10000)] [--value-bytes B (200)] [--timeout-s S (300)]
 *   [--first-seq N] [--start-fifo F] [--warmup-events W (50000)]
 *   events=N seconds=S rate=R start=MONO end=MONO cpu_user=S cpu_sys=S warmup=1+W
 * </pre>
 *
 * Events are made before "ready" (outside the clock); CPU is the whole JVM's (JIT and GC threads included),
 * from /proc/self/stat over the timed part. Before "ready" it also publishes --warmup-events (50,000) events of
 * its own, acked, so the JIT has compiled the hot path when the clock starts (a service runs for days; its
 * first seconds are not its speed); the result line's warmup= counts them with the one of the C publisher.
 */
public final class BenchPublisher {
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    private long state;
    private final long keys;
    private final int valueBytes;

    private BenchPublisher(long keys, int valueBytes, long firstSeq) {
        this.keys = keys;
        this.valueBytes = valueBytes;
        state = 0x9E3779B97F4A7C15L ^ (firstSeq * 0xD1B54A32D192ED03L);
        if (state == 0) state = 0x9E3779B97F4A7C15L;
    }

    private long next() { // xorshift64*
        long x = state;
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        state = x;
        return x * 0x2545F4914F6CDD1DL;
    }

    /** Key and value of event {@code seq}, as bench_make_event makes them. */
    private String makeEvent(long seq, byte[] value) {
        String key = String.format("player-%06d", Long.remainderUnsigned(next(), keys));
        byte[] prefix = ("{\"player\":\"" + key + "\",\"seq\":" + seq + ",\"type\":\"bench\",\"data\":\"")
                .getBytes(StandardCharsets.US_ASCII);
        int len = prefix.length < valueBytes ? prefix.length : 0;
        System.arraycopy(prefix, 0, value, 0, len);
        int bodyEnd = valueBytes >= 2 ? valueBytes - 2 : 0;
        long r = 0;
        for (int i = len, k = 0; i < bodyEnd; i++, k++) {
            if (k % 10 == 0) r = next();
            value[i] = (byte) ALPHABET.charAt((int) (r & 63));
            r >>>= 6;
        }
        if (len == 0) {
            for (int i = 0; i < valueBytes; i++) value[i] = (byte) ALPHABET.charAt((int) (next() & 63));
            return key;
        }
        value[valueBytes - 2] = '"';
        value[valueBytes - 1] = '}';
        return key;
    }

    /** User and system CPU seconds of this process so far (every thread), from /proc/self/stat. */
    private static double[] cpu() throws IOException {
        String s = Files.readString(Path.of("/proc/self/stat"));
        String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
        return new double[] {Long.parseLong(f[11]) / 100.0, Long.parseLong(f[12]) / 100.0}; // utime, stime
    }

    public static void main(String[] args) throws Exception {
        String socket = null, topic = null, fifo = null;
        long events = 1_000_000, keys = 10_000, firstSeq = 0, timeoutS = 300, warmupEvents = 50_000;
        int valueBytes = 200;
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--socket": socket = v; break;
                case "--topic": topic = v; break;
                case "--events": events = Long.parseLong(v); break;
                case "--keys": keys = Long.parseLong(v); break;
                case "--value-bytes": valueBytes = Integer.parseInt(v); break;
                case "--first-seq": firstSeq = Long.parseLong(v); break;
                case "--timeout-s": timeoutS = Long.parseLong(v); break;
                case "--start-fifo": fifo = v; break;
                case "--warmup-events": warmupEvents = Long.parseLong(v); break;
                default: usage("unknown option " + args[i]);
            }
        }
        if (socket == null || topic == null || events < 1 || keys < 1 || valueBytes < 1) usage("missing option");
        AtomicLong failed = new AtomicLong();
        Options o = new Options().clientName("sluice-java-bench").publishTimeout(Duration.ofSeconds(timeoutS))
                .failureListener(f -> {
                    if (failed.getAndIncrement() < 5) System.err.println("java_publisher: failed: " + f.code());
                });
        try (SluiceClient c = SluiceClient.connect(Path.of(socket), o)) {
            System.err.printf("java_publisher: sluice-java to %s, %d events over %d keys, %d-byte values%n",
                    c.serverName(), events, keys, valueBytes);
            BenchPublisher w = new BenchPublisher(keys, valueBytes, firstSeq);
            byte[] warm = new byte[valueBytes];
            c.publish(topic, w.makeEvent(firstSeq, warm), warm).join(); // the producer connects outside the clock
            BenchPublisher jit = new BenchPublisher(keys, valueBytes, firstSeq + events); // other seqs, same keys
            for (long i = 0; i < warmupEvents; i++) {
                byte[] v = new byte[valueBytes];
                c.publish(topic, jit.makeEvent(firstSeq + events + i, v), v);
            }
            c.flush(Duration.ofSeconds(timeoutS));
            w = new BenchPublisher(keys, valueBytes, firstSeq);
            String[] ks = new String[(int) events];
            byte[][] vs = new byte[(int) events][];
            for (int i = 0; i < events; i++) {
                vs[i] = new byte[valueBytes];
                ks[i] = w.makeEvent(firstSeq + i, vs[i]);
            }
            System.err.println("ready");
            if (fifo != null) {
                try (FileInputStream in = new FileInputStream(fifo)) {
                    if (in.read() < 0) usage("the start FIFO closed without a byte");
                }
            }
            double[] cpu0 = cpu();
            long start = System.nanoTime(); // CLOCK_MONOTONIC, the clock of bench_now()
            for (int i = 0; i < events; i++) c.publish(topic, ks[i], vs[i]);
            c.flush(Duration.ofSeconds(timeoutS));
            long end = System.nanoTime();
            double[] cpu1 = cpu();
            double seconds = (end - start) / 1e9;
            System.out.printf("events=%d seconds=%.3f rate=%.0f start=%.6f end=%.6f cpu_user=%.6f cpu_sys=%.6f warmup=%d%n",
                    events, seconds, events / seconds, start / 1e9, end / 1e9, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1],
                    1 + warmupEvents);
            System.out.flush();
        } catch (SluiceException e) {
            System.err.println("java_publisher: " + e.getMessage());
            System.exit(1);
        }
        if (failed.get() != 0) System.exit(1);
    }

    private static void usage(String why) {
        System.err.println("java_publisher: " + why + "\nusage: --socket P --topic T [--events N] [--keys K]"
                + " [--value-bytes B] [--first-seq N] [--timeout-s S] [--start-fifo F] [--warmup-events W]");
        System.exit(2);
    }
}
