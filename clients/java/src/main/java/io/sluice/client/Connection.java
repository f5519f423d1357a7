package io.sluice.client;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * One connection to the gateway after a successful HELLO handshake: its channel, the limits it announced and
 * the state of its end (a failed write, a closing ERROR, a deadline to give up reading it).
 */
final class Connection {
    final SocketChannel channel;
    final Limits limits;
    final String serverName;
    /** Bytes read past HELLO_OK during the handshake. */
    final FrameReader reader;
    /** A write failed: nothing more is written; the reader reads what is left until EOF. */
    boolean writeFailed;
    /** When non-zero: the writer closes the channel at this System.nanoTime() if the reader has not finished. */
    long forceCloseAtNanos;

    private Connection(SocketChannel channel, Limits limits, String serverName, FrameReader reader) {
        this.channel = channel;
        this.limits = limits;
        this.serverName = serverName;
        this.reader = reader;
    }

    /** Connects to the socket and does the handshake within {@code timeoutNanos}; throws with the reason. */
    static Connection open(Path path, int helloId, String clientName, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        SocketChannel ch;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new SluiceException(ErrorCode.IO, 100, "opening a Unix socket: " + e.getMessage(), e);
        }
        try {
            ch.connect(UnixDomainSocketAddress.of(path));
            ch.configureBlocking(false);
            FrameReader fr = new FrameReader();
            ServerFrame f;
            try (Selector sel = Selector.open()) {
                SelectionKey key = ch.register(sel, SelectionKey.OP_READ);
                ByteBuffer hello = ByteBuffer.wrap(Wire.hello(helloId, Wire.VERSION, Wire.VERSION, clientName));
                f = exchange(ch, sel, key, hello, fr, deadline, path);
            }
            ch.configureBlocking(true);
            if (f.type == Wire.ERROR) {
                throw new SluiceException(ErrorCode.of(f.errorCode), f.errorCode,
                        "server refused the handshake: " + f.message, null);
            }
            if (f.type != Wire.HELLO_OK || f.requestId != helloId) {
                throw new SluiceException(ErrorCode.PROTOCOL, "expected HELLO_OK for request " + helloId + ", got type "
                        + f.type + " for request " + f.requestId);
            }
            if (f.limits.version() != Wire.VERSION) {
                throw new SluiceException(ErrorCode.PROTOCOL_STATE, "server chose version " + f.limits.version()
                        + ", which was not offered");
            }
            if (!f.limits.usable()) throw new SluiceException(ErrorCode.PROTOCOL, "HELLO_OK announces unusable limits");
            return new Connection(ch, f.limits, f.serverName, fr);
        } catch (SluiceException e) {
            closeQuietly(ch);
            throw e;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new SluiceException(ErrorCode.IO, 100, "connecting to " + path + ": " + e, e);
        }
    }

    /** Sends HELLO and reads the first reply, bounded by the deadline. */
    private static ServerFrame exchange(SocketChannel ch, Selector sel, SelectionKey key, ByteBuffer out,
            FrameReader fr, long deadline, Path path) throws IOException {
        ByteBuffer in = ByteBuffer.allocate(4096);
        while (true) {
            if (out.hasRemaining()) ch.write(out);
            key.interestOps(SelectionKey.OP_READ | (out.hasRemaining() ? SelectionKey.OP_WRITE : 0));
            long left = deadline - System.nanoTime();
            if (left <= 0) throw new SluiceException(ErrorCode.TIMEOUT, "no HELLO_OK from " + path + " in time");
            sel.select(Math.max(1, left / 1_000_000));
            sel.selectedKeys().clear();
            in.clear();
            int n = ch.read(in);
            if (n < 0) throw new SluiceException(ErrorCode.CLOSED, "server closed the connection during the handshake");
            if (n == 0) continue;
            fr.feed(in.array(), 0, n);
            ServerFrame f;
            try {
                f = fr.next();
            } catch (SluiceException e) {
                throw new SluiceException(ErrorCode.PROTOCOL, "malformed handshake reply: " + e.getMessage());
            }
            if (f != null) return f;
        }
    }

    void close() {
        closeQuietly(channel);
    }

    static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // closing: nothing left to do with the error
        }
    }
}
