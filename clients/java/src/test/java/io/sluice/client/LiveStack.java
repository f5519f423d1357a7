package io.sluice.client;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real Tansu broker and a real {@code sluice serve} (.build/debug/sluice) for the live tests, started like the
 * Python client's tests start them; the gateway can be stopped (SIGTERM) and started again on the same spool.
 */
final class LiveStack implements AutoCloseable {
    static final Path TANSU = Vectors.ROOT.resolve(".deps/bin/tansu");
    static final Path SLUICE = Vectors.ROOT.resolve(".build/debug/sluice");
    static final Path COUNT_EVENTS = Path.of(System.getenv().getOrDefault("SLUICE_COUNT_EVENTS", "build/count_events"));

    final Path dir;
    final int port;
    final Path socket;
    private final Process broker;
    private Process gateway;

    /** Whether the broker, the gateway and the consumer are built (else the live tests are skipped). */
    static boolean available() {
        return Files.isExecutable(TANSU) && Files.isExecutable(SLUICE) && Files.isExecutable(COUNT_EVENTS);
    }

    LiveStack(Path dir) throws Exception {
        this.dir = dir;
        this.port = freePort();
        this.socket = dir.resolve("s.sock");
        String url = "tcp://127.0.0.1:" + port;
        broker = new ProcessBuilder(TANSU.toString(), "broker", "--listener-url", url, "--advertised-listener-url", url)
                .redirectErrorStream(true).redirectOutput(dir.resolve("tansu.log").toFile()).start();
        Await.until("the broker listens on " + port, this::brokerListens, 20_000);
        startGateway();
    }

    private boolean brokerListens() {
        if (!broker.isAlive()) throw new AssertionError("tansu exited; see " + dir.resolve("tansu.log"));
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Creates a topic with {@code partitions} partitions (a topic that exists already is fine). */
    void createTopic(String topic, int partitions) throws Exception {
        Process p = new ProcessBuilder(TANSU.toString(), "topic", "create", "--broker", "tcp://127.0.0.1:" + port,
                "--partitions", Integer.toString(partitions), topic).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) throw new AssertionError("tansu topic create hangs");
        if (p.exitValue() != 0 && !out.toLowerCase().contains("exist")) throw new AssertionError("topic create: " + out);
    }

    /** Starts {@code sluice serve} on the socket and spool of this stack and waits until it accepts. */
    void startGateway() throws IOException {
        File log = dir.resolve("sluice.log").toFile();
        gateway = new ProcessBuilder(SLUICE.toString(), "serve", "--socket", socket.toString(), "--brokers",
                "127.0.0.1:" + port, "--spool", dir.resolve("spool.db").toString(), "--log-level", "error")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log)).start();
        Await.until("the gateway serves " + socket, this::gatewayServes, 30_000);
    }

    private boolean gatewayServes() {
        if (!gateway.isAlive()) throw new AssertionError("sluice serve exited; see " + dir.resolve("sluice.log"));
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** SIGTERM to the gateway; returns its exit status once it has exited (bounded). */
    int stopGateway() throws InterruptedException {
        gateway.destroy(); // SIGTERM
        if (!gateway.waitFor(30, TimeUnit.SECONDS)) {
            gateway.destroyForcibly();
            throw new AssertionError("the gateway did not exit within 30 s of SIGTERM");
        }
        return gateway.exitValue();
    }

    /** Reads {@code topic} back with the bench's librdkafka consumer; returns its result line's fields. */
    java.util.Map<String, String> countEvents(String topic, long events, int keys) throws Exception {
        Process p = new ProcessBuilder(COUNT_EVENTS.toString(), "--brokers", "127.0.0.1:" + port, "--topic", topic,
                "--events", Long.toString(events), "--keys", Integer.toString(keys), "--idle-ms", "3000",
                "--timeout-s", "120").redirectError(dir.resolve("count.log").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(150, TimeUnit.SECONDS)) throw new AssertionError("count_events hangs");
        if (p.exitValue() != 0) throw new AssertionError("count_events failed: " + out + " (see " + dir + "/count.log)");
        java.util.Map<String, String> m = new java.util.HashMap<>();
        for (String kv : out.split(" ")) {
            String[] p2 = kv.split("=", 2);
            if (p2.length == 2) m.put(p2[0], p2[1]);
        }
        return m;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws Exception {
        for (Process p : List.of(gateway, broker)) {
            if (p == null || !p.isAlive()) continue;
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) p.destroyForcibly().waitFor();
        }
    }
}
