package io.sluice.client;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A scripted gateway on a real Unix socket for the client's tests: it answers HELLO with the limits it is given,
 * then hands every other frame to a script, and records every PUBLISH it read (with its connection number).
 */
final class FakeServer implements AutoCloseable {
    /** What a script does with one frame on one connection. */
    interface Script {
        void onFrame(Conn c, Frame f) throws IOException;
    }

    /** One client frame; {@code records} is set for PUBLISH. */
    record Frame(int type, int requestId, byte[] payload, int connection, PublishDecoder publish) {}

    /** One accepted connection. */
    final class Conn {
        final SocketChannel ch;
        final int number;

        Conn(SocketChannel ch, int number) {
            this.ch = ch;
            this.number = number;
        }

        void send(byte[] frame) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(frame);
            while (b.hasRemaining()) ch.write(b);
        }

        /** An ACK for {@code count} records with failures given as index, code pairs. */
        void ack(int requestId, int count, int... failures) throws IOException {
            send(ackFrame(requestId, count, failures));
        }

        void error(int requestId, int code, int flags, String message) throws IOException {
            send(errorFrame(requestId, code, flags, message));
        }

        void close() throws IOException {
            ch.close();
        }
    }

    final Path path;
    private final ServerSocketChannel server;
    private final Thread acceptor;
    volatile Limits limits = Limits.DEFAULTS;
    volatile Script script = (c, f) -> {
        if (f.type() == Wire.PUBLISH && f.publish().ackLevel != 2) c.ack(f.requestId(), f.publish().records.size());
    };
    final List<Frame> publishes = Collections.synchronizedList(new ArrayList<>());
    private final List<SocketChannel> open = Collections.synchronizedList(new ArrayList<>());
    private int connections;

    FakeServer(Path dir) throws IOException {
        path = dir.resolve("fake.sock");
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        acceptor = new Thread(this::acceptLoop, "fake-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    synchronized int connections() {
        return connections;
    }

    private void acceptLoop() {
        while (true) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                return;
            }
            int n;
            synchronized (this) {
                n = ++connections;
            }
            open.add(ch);
            Conn c = new Conn(ch, n);
            Thread t = new Thread(() -> serve(c), "fake-conn-" + n);
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Conn c) {
        try {
            byte[] hdr = new byte[Wire.HDR];
            boolean hello = true;
            while (readFully(c.ch, hdr)) {
                int len = (int) Wire.get32(hdr, 12);
                byte[] payload = new byte[len];
                if (!readFully(c.ch, payload)) return;
                int type = hdr[3] & 0xff, id = (int) Wire.get32(hdr, 8);
                if (hello) {
                    hello = false;
                    c.send(helloOk(id, limits));
                    continue;
                }
                PublishDecoder d = type == Wire.PUBLISH ? new PublishDecoder(payload) : null;
                Frame f = new Frame(type, id, payload, c.number, d);
                if (d != null) publishes.add(f);
                else if (type == Wire.PING) c.send(pong(id, payload));
                script.onFrame(c, f);
            }
        } catch (IOException e) {
            // the client or the script closed the connection
        } finally {
            try {
                c.ch.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
    }

    private static boolean readFully(SocketChannel ch, byte[] into) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(into);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) return false;
        }
        return true;
    }

    static byte[] helloOk(int requestId, Limits l) {
        byte[] name = "fake/1".getBytes(StandardCharsets.UTF_8);
        int n = 26 + 2 + name.length + 16;
        byte[] f = new byte[Wire.HDR + n];
        Wire.header(f, Wire.HELLO_OK, 0, requestId, n);
        int p = Wire.HDR;
        Wire.put16(f, p, l.version());
        Wire.put32(f, p + 2, (int) l.maxFrameBytes());
        Wire.put32(f, p + 6, (int) l.maxDecompressedBytes());
        Wire.put32(f, p + 10, (int) l.maxRecordsPerFrame());
        Wire.put32(f, p + 14, (int) l.maxRecordBytes());
        Wire.put16(f, p + 18, l.maxKeyBytes());
        Wire.put16(f, p + 20, l.maxHeaders());
        Wire.put32(f, p + 22, (int) l.maxHeaderBytes());
        Wire.put16(f, p + 26, name.length);
        System.arraycopy(name, 0, f, p + 28, name.length);
        int q = p + 28 + name.length;
        Wire.put32(f, q, (int) l.maxUnackedBytes());
        Wire.put32(f, q + 4, (int) l.handshakeTimeoutMs());
        Wire.put32(f, q + 8, (int) l.idleTimeoutMs());
        Wire.put32(f, q + 12, (int) l.maxConnections());
        return f;
    }

    static byte[] ackFrame(int requestId, int count, int... failures) {
        int k = failures.length / 2;
        byte[] f = new byte[Wire.HDR + 8 + 6 * k];
        Wire.header(f, Wire.ACK, 0, requestId, 8 + 6 * k);
        Wire.put32(f, Wire.HDR, count);
        Wire.put32(f, Wire.HDR + 4, k);
        for (int i = 0; i < k; i++) {
            Wire.put32(f, Wire.HDR + 8 + 6 * i, failures[2 * i]);
            Wire.put16(f, Wire.HDR + 12 + 6 * i, failures[2 * i + 1]);
        }
        return f;
    }

    static byte[] errorFrame(int requestId, int code, int flags, String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        byte[] f = new byte[Wire.HDR + 6 + m.length];
        Wire.header(f, Wire.ERROR, 0, requestId, 6 + m.length);
        Wire.put16(f, Wire.HDR, code);
        f[Wire.HDR + 2] = (byte) flags;
        Wire.put16(f, Wire.HDR + 4, m.length);
        System.arraycopy(m, 0, f, Wire.HDR + 6, m.length);
        return f;
    }

    static byte[] pong(int requestId, byte[] data) {
        byte[] f = new byte[Wire.HDR + data.length];
        Wire.header(f, Wire.PONG, 0, requestId, data.length);
        System.arraycopy(data, 0, f, Wire.HDR, data.length);
        return f;
    }

    static byte[] statsReply(int requestId, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        byte[] f = new byte[Wire.HDR + body.length];
        Wire.header(f, Wire.STATS_REPLY, 0, requestId, body.length);
        System.arraycopy(body, 0, f, Wire.HDR, body.length);
        return f;
    }

    /** Every record the server read, in order, as "connection:key:value". */
    List<String> received() {
        List<String> out = new ArrayList<>();
        synchronized (publishes) {
            for (Frame f : publishes) {
                for (OutRecord r : f.publish().records) {
                    out.add(f.connection() + ":" + new String(r.key, StandardCharsets.UTF_8) + ":"
                            + new String(r.value, StandardCharsets.UTF_8));
                }
            }
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        server.close();
        synchronized (open) {
            for (SocketChannel ch : open) ch.close();
        }
        Files.deleteIfExists(path);
    }
}
