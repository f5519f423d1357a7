package io.sluice.client;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A thread-safe client of the Sluice gateway (wire protocol v1, proto-spec/PROTOCOL.md) over its Unix socket.
 *
 * <p>{@code publish} checks a record against the limits the gateway announced, gives it an event id (UUIDv4)
 * and appends it to the open batch; a batch goes out when full ({@code maxBatchRecords}, {@code maxBatchBytes}),
 * after {@code linger}, or on {@code flush}. The client keeps every batch until the gateway acknowledges it at
 * the chosen {@link AckLevel}; after a broken connection it first reads every reply still readable on the old
 * one, then reconnects and resends what is unacknowledged, in the original order, with the same event ids
 * (at-least-once; a graceful restart of the gateway creates no duplicate). Two threads do the I/O: a writer
 * (connects, writes) and a reader per connection (settles replies; record futures complete on it).
 *
 * <pre>{@code
 * try (SluiceClient c = SluiceClient.connect(Path.of("/run/sluice/sluice.sock"))) {
 *     c.publish("game.events", "player-42", "{}".getBytes(UTF_8)).join();   // acked durably
 * }
 * }</pre>
 */
public final class SluiceClient implements AutoCloseable {
    private final Engine e;
    private final Thread writer;
    private final SplittableRandom random = new SplittableRandom(new java.security.SecureRandom().nextLong());
    private String lastTopic;
    private byte[] lastTopicBytes;
    private static final byte[] EMPTY = new byte[0];

    private SluiceClient(Path socket, Options opts) {
        e = new Engine(socket, opts);
        writer = new Thread(new Writer(e, this), "sluice-writer");
        writer.setDaemon(true);
    }

    /** Connects with default {@link Options}. */
    public static SluiceClient connect(Path socket) {
        return connect(socket, new Options());
    }

    /**
     * Connects to the gateway at {@code socket} and does the HELLO handshake (one attempt, bounded by
     * connectTimeout). Throws {@link SluiceException} when that fails, unless {@code connectLazily} is set.
     */
    public static SluiceClient connect(Path socket, Options options) {
        Options o = options.copy();
        o.validate();
        SluiceClient c = new SluiceClient(socket, o);
        SluiceException failed = c.connectOnce();
        if (failed != null && !o.connectLazily) throw failed;
        c.writer.start();
        return c;
    }

    /** One connection attempt; on success the connection is in use and its reader runs. Returns the failure. */
    SluiceException connectOnce() {
        int id;
        e.lock.lock();
        try {
            if (e.closed || e.conn != null) return null;
            id = e.nextRequestId();
        } finally {
            e.lock.unlock();
        }
        Connection c = null;
        SluiceException failure = null;
        try {
            c = Connection.open(e.path, id, e.opts.clientName, e.opts.connectTimeout.toNanos());
        } catch (SluiceException ex) {
            failure = ex;
        }
        e.lock.lock();
        try {
            if (failure != null) {
                e.lastConnectionError = failure;
                e.nextConnectAtNanos = System.nanoTime() + e.backoffNanos(e.connectFailures++);
                e.changed.signalAll();
                return failure;
            }
            if (e.closed) {
                c.close();
                return null;
            }
            e.conn = c;
            e.applyLimits(c.limits);
            e.serverName = c.serverName;
            e.connectFailures = 0;
            e.lastConnectionError = null;
            Thread t = new Thread(new ReplyReader(e, c), "sluice-reader");
            t.setDaemon(true);
            t.start();
            e.writerWake.signal();
            e.changed.signalAll();
            return null;
        } finally {
            e.lock.unlock();
        }
    }

    /** Publishes a record with no headers, an empty event type, a fresh event id and the current time. */
    public CompletableFuture<UUID> publish(String topic, String key, byte[] value) {
        return publish(topic, key, value, null, null, null, 0);
    }

    /**
     * Publishes a record. The returned future completes with the record's event id once the gateway acknowledged
     * it at the chosen ack level (at NONE: once written), or exceptionally with a {@link SluiceException}
     * carrying the code: a local check's code (INVALID_TOPIC, INVALID_KEY, ...: the record was not taken),
     * TIMEOUT when backpressure did not ease within publishTimeout, CLOSED, or the gateway's per-record code.
     * Blocks only for backpressure. Never throws for a bad record.
     *
     * @param headers Kafka headers, or null
     * @param eventType published as header {@code event-type}; null is empty
     * @param eventId the record's event id; null gives a random UUIDv4 (kept on resends)
     * @param timestampMs milliseconds since the epoch; 0 is now
     */
    public CompletableFuture<UUID> publish(String topic, String key, byte[] value, List<Header> headers,
            String eventType, UUID eventId, long timestampMs) {
        byte[][] names = null, values = null;
        if (headers != null && !headers.isEmpty()) {
            names = new byte[headers.size()][];
            values = new byte[headers.size()][];
            for (int i = 0; i < names.length; i++) {
                Header h = headers.get(i);
                names[i] = Utf8.encode(h.name());
                values[i] = h.value();
            }
        }
        byte[] k = key == null ? null : Utf8.encode(key);
        byte[] et = eventType == null ? EMPTY : Utf8.encode(eventType);
        OutRecord r = new OutRecord(null, k, et, timestampMs == 0 ? System.currentTimeMillis() : timestampMs,
                names, values, value == null ? EMPTY : value);
        RecordFuture f;
        List<Settlement> none = null;
        e.lock.lock();
        try {
            r.topic = topicBytes(topic);
            if (e.closing) return failed(topic, key, new SluiceException(ErrorCode.CLOSED, "the client is closed"));
            try {
                RecordCheck.check(r, e.limits, e.hardPayloadBytes);
            } catch (SluiceException ex) {
                return failed(topic, key, ex);
            }
            if (eventId != null) {
                r.idMsb = eventId.getMostSignificantBits();
                r.idLsb = eventId.getLeastSignificantBits();
            } else if (e.opts.generateEventIds) {
                r.idMsb = (random.nextLong() & ~0xf000L) | 0x4000L; // version 4
                r.idLsb = (random.nextLong() & 0x3fffffffffffffffL) | 0x8000000000000000L; // RFC 4122 variant
            }
            f = new RecordFuture(topic, key, r.idMsb, r.idLsb);
            try {
                e.take(r, f, r.encodedSize());
            } catch (SluiceException ex) {
                return failed(topic, key, ex);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                return failed(topic, key, new SluiceException(ErrorCode.TIMEOUT, "interrupted while waiting for room"));
            }
        } finally {
            e.lock.unlock();
        }
        return f;
    }

    private byte[] topicBytes(String topic) {
        if (topic == null) return null;
        if (!topic.equals(lastTopic)) {
            lastTopicBytes = Utf8.encode(topic);
            lastTopic = topic;
        }
        return lastTopicBytes;
    }

    private static CompletableFuture<UUID> failed(String topic, String key, SluiceException ex) {
        RecordFuture f = new RecordFuture(topic, key, 0, 0);
        f.completeExceptionally(ex);
        return f;
    }

    /**
     * Sends the open batch and waits until every record taken so far is acknowledged (at NONE: written).
     * Throws TIMEOUT (records stay held and are still sent), CLOSED, or RECORDS_FAILED when records were refused
     * since the previous flush (their futures and the failure listener have the details).
     */
    public void flush(Duration timeout) {
        e.lock.lock();
        try {
            e.seal();
            long left = timeout.toNanos();
            while (e.heldRecords > 0) {
                if (e.closed) throw new SluiceException(ErrorCode.CLOSED, "the client is closed");
                if (left <= 0) {
                    throw new SluiceException(ErrorCode.TIMEOUT, "flush: timed out with " + e.heldRecords
                            + " records unacknowledged" + e.notConnected());
                }
                left = e.changed.awaitNanos(left);
            }
            if (e.failedRecords > e.failedReported) {
                long n = e.failedRecords - e.failedReported;
                e.failedReported = e.failedRecords;
                throw new SluiceException(ErrorCode.RECORDS_FAILED, n + " records were refused since the last flush");
            }
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new SluiceException(ErrorCode.TIMEOUT, "flush interrupted");
        } finally {
            e.lock.unlock();
        }
    }

    /** Asks the gateway for its STATS document (JSON, PROTOCOL.md section 3.5). */
    public String stats(Duration timeout) {
        return new String(aux(new AuxRequest(Wire.STATS, null), timeout), StandardCharsets.UTF_8);
    }

    /** Sends a PING and waits for its PONG. */
    public void ping(Duration timeout) {
        byte[] token = new byte[8];
        random.nextBytes(token);
        byte[] echo = aux(new AuxRequest(Wire.PING, token), timeout);
        if (!java.util.Arrays.equals(echo, token)) {
            throw new SluiceException(ErrorCode.PROTOCOL, "PONG does not echo the PING's bytes");
        }
    }

    private byte[] aux(AuxRequest a, Duration timeout) {
        e.lock.lock();
        try {
            if (e.closing) throw new SluiceException(ErrorCode.CLOSED, "the client is closed");
            e.auxQueue.addLast(a);
            e.writerWake.signal();
        } finally {
            e.lock.unlock();
        }
        try {
            return a.reply.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException te) {
            e.lock.lock();
            try {
                e.auxQueue.remove(a);
                // Already written (or being written) on this connection: its reply may still come; drop it then.
                if (e.auxWaiting.remove(a.requestId) == a) e.auxTimedOut.add(a.requestId);
            } finally {
                e.lock.unlock();
            }
            throw new SluiceException(ErrorCode.TIMEOUT, "no reply within " + timeout.toMillis() + " ms"
                    + notConnected());
        } catch (ExecutionException ee) {
            throw ee.getCause() instanceof SluiceException se ? se
                    : new SluiceException(ErrorCode.IO, 100, String.valueOf(ee.getCause()), ee.getCause());
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new SluiceException(ErrorCode.TIMEOUT, "interrupted");
        }
    }

    private String notConnected() {
        e.lock.lock();
        try {
            return e.notConnected();
        } finally {
            e.lock.unlock();
        }
    }

    /** Whether the client has an established connection (handshake done). */
    public boolean isConnected() {
        e.lock.lock();
        try {
            return e.conn != null;
        } finally {
            e.lock.unlock();
        }
    }

    /** The server name from the last HELLO_OK ("" before the first handshake). */
    public String serverName() {
        e.lock.lock();
        try {
            return e.serverName;
        } finally {
            e.lock.unlock();
        }
    }

    /** The limits in force: the last HELLO_OK's, or the protocol's defaults. */
    public Limits limits() {
        e.lock.lock();
        try {
            return e.limits;
        } finally {
            e.lock.unlock();
        }
    }

    /** Records the client holds: in the open batch, unsent, or not yet acknowledged. */
    public long unackedRecords() {
        e.lock.lock();
        try {
            return e.heldRecords;
        } finally {
            e.lock.unlock();
        }
    }

    /** Records the gateway refused since the client was created. */
    public long failedRecords() {
        e.lock.lock();
        try {
            return e.failedRecords;
        } finally {
            e.lock.unlock();
        }
    }

    /** Flushes for up to {@code closeTimeout}, then closes; records still held fail with CLOSED. */
    @Override
    public void close() {
        e.lock.lock();
        try {
            if (e.closing) return;
            e.closing = true;
        } finally {
            e.lock.unlock();
        }
        try {
            flush(e.opts.closeTimeout);
        } catch (SluiceException ignored) {
            // what is still held fails below; refused records were reported already
        }
        List<Settlement> out = new ArrayList<>();
        Connection c;
        e.lock.lock();
        try {
            e.failEverything(ErrorCode.CLOSED, "the client was closed before the record was acknowledged", out);
            e.closed = true;
            c = e.conn;
            e.conn = null;
            e.writerWake.signal();
            e.changed.signalAll();
        } finally {
            e.lock.unlock();
        }
        if (c != null) c.close();
        e.deliver(out);
        try {
            writer.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }
}
