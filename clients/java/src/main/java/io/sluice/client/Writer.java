package io.sluice.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The writer thread: connects (with backoff) when there is work, seals the open batch when its linger is up,
 * and writes PING/STATS requests and batches in sealing order. A batch paused after a retriable ERROR holds back
 * the ones behind it. A failed write never requeues anything: the connection's {@link ReplyReader} first reads
 * every reply still on its way, then the engine requeues what is unacknowledged (so nothing acked is resent).
 */
final class Writer implements Runnable {
    private final Engine e;
    private final SluiceClient client;

    Writer(Engine e, SluiceClient client) {
        this.e = e;
        this.client = client;
    }

    /** What the writer does next, chosen under the lock and done outside it. */
    private static final class Work {
        Connection conn;
        Batch batch;
        AuxRequest aux;
        byte[] frame;
        int length;
        boolean connect;
        boolean forceClose;
    }

    @Override
    public void run() {
        while (true) {
            Work w;
            List<Settlement> out = new ArrayList<>();
            e.lock.lock();
            try {
                w = next(out);
            } catch (InterruptedException ie) {
                return;
            } finally {
                e.lock.unlock();
            }
            e.deliver(out);
            if (w == null) return;
            if (w.connect) client.connectOnce();
            else if (w.forceClose) w.conn.close(); // its reader then ends and requeues
            else write(w);
        }
    }

    /** Blocks until there is something to do; null when the client is closed. Caller holds the lock. */
    private Work next(List<Settlement> out) throws InterruptedException {
        while (true) {
            if (e.closed) return null;
            long now = System.nanoTime();
            long wait = Long.MAX_VALUE;
            Connection c = e.conn;
            if (c != null && c.forceCloseAtNanos != 0) {
                if (now - c.forceCloseAtNanos >= 0) {
                    Work w = new Work();
                    w.conn = c;
                    w.forceClose = true;
                    c.forceCloseAtNanos = 0;
                    return w;
                }
                wait = c.forceCloseAtNanos - now;
            }
            if (e.open != null) {
                long due = e.openSinceNanos + e.opts.linger.toNanos();
                if (now - due >= 0 || c == null) {
                    if (c != null) e.seal();
                } else {
                    wait = Math.min(wait, due - now);
                }
            }
            if (c == null) {
                if (e.hasWork()) {
                    long left = e.nextConnectAtNanos - now;
                    if (left <= 0) {
                        Work w = new Work();
                        w.connect = true;
                        return w;
                    }
                    wait = Math.min(wait, left);
                }
            } else if (!c.writeFailed) {
                Work w = pick(c, now, out);
                if (w != null) return w;
                Batch head = e.pending.peekFirst();
                if (head != null && head.notBeforeNanos - now > 0) wait = Math.min(wait, head.notBeforeNanos - now);
                if (!out.isEmpty()) return new Work(); // deliver the failures first, then look again
            }
            Engine.await(e.writerWake, wait);
        }
    }

    /** The next frame to write on {@code c}: a PING/STATS, else the first queued batch when it may go. */
    private Work pick(Connection c, long now, List<Settlement> out) {
        Work w = new Work();
        w.conn = c;
        AuxRequest a = e.auxQueue.pollFirst();
        if (a != null) {
            a.requestId = e.nextRequestId();
            e.auxWaiting.put(a.requestId, a);
            w.aux = a;
            w.frame = a.frame();
            w.length = w.frame.length;
            return w;
        }
        while (true) {
            Batch b = e.pending.peekFirst();
            if (b == null || b.notBeforeNanos - now > 0) return null;
            e.pending.pollFirst();
            ErrorCode over = overLimits(b, c.limits);
            if (over != null) { // the server's new limits no longer allow it
                for (RecordFuture f : b.records) {
                    out.add(Settlement.refused(f, over.code(), "batch exceeds the limits the server announced"));
                }
                e.failedRecords += b.records.length;
                e.release(b);
                continue;
            }
            b.requestId = e.nextRequestId();
            Wire.setRequestId(b.frame, b.requestId);
            b.state = Batch.WRITING;
            b.conn = c;
            e.inflight.put(b.requestId, b);
            w.batch = b;
            w.frame = b.frame;
            w.length = b.frameLength;
            return w;
        }
    }

    private static ErrorCode overLimits(Batch b, Limits l) {
        if (b.records.length > l.maxRecordsPerFrame()) return ErrorCode.TOO_MANY_RECORDS;
        if (b.frameLength - Wire.HDR > l.maxFrameBytes()) return ErrorCode.FRAME_TOO_LARGE;
        if (b.plainLength > l.maxDecompressedBytes()) return ErrorCode.DECOMPRESSED_TOO_LARGE;
        return null;
    }

    private void write(Work w) {
        if (w.frame == null) return;
        try {
            ByteBuffer bb = ByteBuffer.wrap(w.frame, 0, w.length);
            while (bb.hasRemaining()) w.conn.channel.write(bb);
        } catch (IOException ex) {
            writeFailed(w.conn);
            return;
        }
        if (w.batch == null || e.opts.ackLevel != AckLevel.NONE) {
            if (w.batch == null) return;
            e.lock.lock();
            try {
                if (w.batch.state == Batch.WRITING && w.batch.conn == w.conn) w.batch.state = Batch.INFLIGHT;
            } finally {
                e.lock.unlock();
            }
            return;
        }
        // Ack level NONE: written is done; keep just enough to name the records of a late failure report.
        List<Settlement> out = new ArrayList<>();
        e.lock.lock();
        try {
            Batch b = w.batch;
            if (b.state == Batch.WRITING && b.conn == w.conn && e.inflight.remove(b.requestId) == b) {
                e.written.put(b.requestId, b);
                out.add(Settlement.allOk(b.records));
                e.release(b);
            }
        } finally {
            e.lock.unlock();
        }
        e.deliver(out);
    }

    /**
     * A write failed (EPIPE, reset): stop writing and half-close, so the gateway sees our end; the reader keeps
     * reading the replies still readable until EOF, bounded by the drain timeout.
     */
    private void writeFailed(Connection c) {
        e.lock.lock();
        try {
            if (c != e.conn || c.writeFailed) return;
            c.writeFailed = true;
            if (c.forceCloseAtNanos == 0) c.forceCloseAtNanos = System.nanoTime() + e.opts.drainTimeout.toNanos();
        } finally {
            e.lock.unlock();
        }
        try {
            c.channel.shutdownOutput();
        } catch (IOException ignored) {
            // the reader finds out how the connection ended
        }
    }
}
