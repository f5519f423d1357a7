package io.sluice.client;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The client's shared state, guarded by one lock: the open batch, sealed batches waiting to be written
 * ({@code pending}, in sealing order), batches written and awaiting a reply ({@code inflight}), the connection,
 * and the bytes held for backpressure. {@link Writer} and {@link ReplyReader} run the I/O around it.
 */
final class Engine {
    final ReentrantLock lock = new ReentrantLock();
    /** The writer waits on it for work. */
    final Condition writerWake = lock.newCondition();
    /** Publishers (room), flushers (all acked) and close wait on it. */
    final Condition changed = lock.newCondition();

    final Options opts;
    final Path path;
    final Compressor compressor;

    Limits limits = Limits.DEFAULTS;
    int batchRecords;
    long softBatchBytes;
    long hardPayloadBytes;
    long maxHeld;

    BatchBuilder open;
    RecordFuture[] openRecords = new RecordFuture[16];
    long openSinceNanos;
    final ArrayDeque<Batch> pending = new ArrayDeque<>();
    final Map<Integer, Batch> inflight = new HashMap<>();
    /** Ack level NONE: batches already written, for naming the records of a late failure report. */
    final Map<Integer, Batch> written = new LinkedHashMap<>(64, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Batch> e) {
            return size() > 256;
        }
    };
    final ArrayDeque<AuxRequest> auxQueue = new ArrayDeque<>();
    final Map<Integer, AuxRequest> auxWaiting = new HashMap<>();
    /**
     * Ids of PING/STATS requests written on this connection whose caller timed out: their late reply (PONG,
     * STATS_REPLY or ERROR) is dropped, not taken for a protocol violation (which would break the connection
     * without reading the ACKs behind it). An id is forgotten when its reply comes, on a new connection, or when
     * more than {@link #MAX_AUX_TIMED_OUT} are remembered (the oldest first), as the C client's ring does.
     */
    final Set<Integer> auxTimedOut = Collections.newSetFromMap(new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Boolean> e) {
            return size() > MAX_AUX_TIMED_OUT;
        }
    });
    static final int MAX_AUX_TIMED_OUT = 64;

    long heldBytes;
    long heldRecords;
    /** The buffer of an acknowledged batch, reused for the next open batch (saves allocating and zeroing it). */
    byte[] spare;
    Connection conn;
    long nextConnectAtNanos;
    int connectFailures;
    SluiceException lastConnectionError;
    String serverName = "";
    int nextId = 1;
    long nextSeq;
    boolean closing;
    boolean closed;
    long failedRecords;
    long failedReported;

    Engine(Path path, Options opts) {
        this.path = path;
        this.opts = opts;
        this.compressor = opts.compression ? Compressor.create(opts.zstdLevel) : null;
        applyLimits(Limits.DEFAULTS);
    }

    /** Takes the limits of a new connection: batch sizes and backpressure follow them. */
    void applyLimits(Limits l) {
        limits = l;
        hardPayloadBytes = Math.min(l.maxFrameBytes(), l.maxDecompressedBytes());
        softBatchBytes = Math.min(opts.maxBatchBytes, hardPayloadBytes);
        batchRecords = (int) Math.min(opts.maxBatchRecords, l.maxRecordsPerFrame());
        maxHeld = l.maxUnackedBytes() > 0 ? Math.min(opts.maxUnackedBytes, l.maxUnackedBytes()) : opts.maxUnackedBytes;
    }

    int nextRequestId() {
        int id = nextId++;
        if (nextId == 0) nextId = 1;
        return id;
    }

    /** Takes a checked record into the open batch, waiting for room (backpressure). Caller holds the lock. */
    void take(OutRecord r, RecordFuture f, int size) throws InterruptedException {
        if (open != null && (open.count() >= batchRecords || open.payloadLength() + (long) size > softBatchBytes)) {
            seal();
        }
        long need = size + (open == null ? Wire.HDR + Wire.PREAMBLE : 0);
        if (heldBytes > 0 && heldBytes + need > maxHeld) {
            seal();
            need = size + Wire.HDR + Wire.PREAMBLE;
            long left = opts.publishTimeout.toNanos();
            while (heldBytes > 0 && heldBytes + need > maxHeld) {
                if (closing) throw new SluiceException(ErrorCode.CLOSED, "the client is closing");
                if (left <= 0) {
                    throw new SluiceException(ErrorCode.TIMEOUT, "publish: " + heldBytes + " bytes unacknowledged"
                            + " for " + opts.publishTimeout.toMillis() + " ms (max " + maxHeld + ")" + notConnected());
                }
                left = changed.awaitNanos(left);
            }
        }
        if (open == null) {
            byte[] buf = spare;
            spare = null;
            open = buf != null ? new BatchBuilder(opts.ackLevel.wire(), buf)
                    : new BatchBuilder(opts.ackLevel.wire(), (int) Math.min(softBatchBytes + 4096, 64 * 1024));
            openSinceNanos = System.nanoTime();
            heldBytes += Wire.HDR + Wire.PREAMBLE;
            writerWake.signal(); // starts the linger clock
        }
        int n = open.count();
        if (n == openRecords.length) openRecords = java.util.Arrays.copyOf(openRecords, n * 2);
        openRecords[n] = f;
        open.add(r);
        heldBytes += size;
        heldRecords++;
        if (open.count() >= batchRecords || open.payloadLength() >= softBatchBytes) seal();
    }

    /** Seals the open batch, compressing it when that makes it smaller, and queues it for the writer. */
    void seal() {
        if (open == null) return;
        BatchBuilder b = open;
        open = null;
        b.finish();
        RecordFuture[] recs = java.util.Arrays.copyOf(openRecords, b.count());
        byte[] frame = b.buffer();
        int len = b.frameLength();
        if (compressor != null) {
            byte[] z = compressor.compressFrame(frame, len);
            if (z != null) {
                spare = frame; // the plain frame was only needed for compressing it
                heldBytes += z.length - len;
                frame = z;
                len = z.length;
            }
        }
        pending.addLast(new Batch(nextSeq++, frame, len, b.payloadLength(), recs));
        writerWake.signal();
    }

    /** Removes a resolved batch from the held bytes and wakes whoever waits for room. */
    void release(Batch b) {
        if (b.state == Batch.INFLIGHT && (spare == null || spare.length < b.frame.length)) spare = b.frame;
        heldBytes -= b.frameLength;
        heldRecords -= b.records.length;
        changed.signalAll();
    }

    /** Whether there is anything a connection is needed for. */
    boolean hasWork() {
        return open != null || !pending.isEmpty() || !auxQueue.isEmpty();
    }

    /**
     * The connection ended (EOF, an I/O error, a protocol violation, or forced after the drain timeout): every
     * batch not yet acknowledged goes back to {@code pending} in sealing order, to be resent on the next connection.
     * Called by the connection's reader once nothing more can be read from it. Caller holds the lock.
     */
    void connectionLost(Connection c, SluiceException why, List<Settlement> out) {
        if (c != conn) return;
        conn = null;
        c.close();
        lastConnectionError = why;
        List<Batch> again = new ArrayList<>(inflight.values());
        again.addAll(pending);
        again.sort((a, b) -> Long.compare(a.seq, b.seq));
        inflight.clear();
        pending.clear();
        for (Batch b : again) {
            b.state = Batch.QUEUED;
            b.requestId = 0;
            b.conn = null;
            pending.addLast(b);
        }
        written.clear();
        for (AuxRequest a : auxWaiting.values()) a.fail(why);
        auxWaiting.clear();
        auxTimedOut.clear(); // their replies could only come on the connection that just ended
        nextConnectAtNanos = System.nanoTime(); // the first attempt at once; backoff after failed ones
        writerWake.signal();
        changed.signalAll();
    }

    /** Pause number {@code n} (0-based): backoff doubling up to backoffMax. */
    long backoffNanos(int n) {
        long d = opts.backoff.toNanos(), max = opts.backoffMax.toNanos();
        for (int i = 0; i < n && d < max; i++) d *= 2;
        return Math.min(d, max);
    }

    String notConnected() {
        if (conn != null || lastConnectionError == null) return "";
        return " (not connected: " + lastConnectionError.getMessage() + ")";
    }

    /** Fails every record the client holds, with {@code code}; used by close. Caller holds the lock. */
    void failEverything(ErrorCode code, String message, List<Settlement> out) {
        seal();
        List<Batch> all = new ArrayList<>(inflight.values());
        all.addAll(pending);
        inflight.clear();
        pending.clear();
        for (Batch b : all) {
            for (RecordFuture f : b.records) out.add(Settlement.local(f, new SluiceException(code, message)));
            release(b);
        }
        for (AuxRequest a : auxQueue) a.fail(new SluiceException(code, message));
        for (AuxRequest a : auxWaiting.values()) a.fail(new SluiceException(code, message));
        auxQueue.clear();
        auxWaiting.clear();
        auxTimedOut.clear();
    }

    /** Completes futures and calls the failure listener; never called with the lock held. */
    void deliver(List<Settlement> out) {
        FailureListener listener = opts.failureListener;
        for (Settlement s : out) s.deliver(listener);
    }

    /** Waits until {@code nanos} pass or something changes. Caller holds the lock. */
    static long await(Condition c, long nanos) throws InterruptedException {
        return nanos == Long.MAX_VALUE ? awaitForever(c) : c.awaitNanos(nanos);
    }

    private static long awaitForever(Condition c) throws InterruptedException {
        c.await(1, TimeUnit.HOURS);
        return Long.MAX_VALUE;
    }
}
