package io.sluice.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The reader thread of one connection: reads server frames and settles the requests they answer. It reads until
 * EOF even after a failed write or a closing ERROR (SHUTTING_DOWN), so every reply the gateway sent before it
 * closed is settled before anything is resent: a graceful restart creates no duplicates. Only then does it hand
 * the connection back to the engine, which requeues what is still unacknowledged. A reply that breaks the protocol
 * (malformed, or for a request it cannot answer) ends the reading at once, as in the C client and PROTOCOL.md
 * section 9: the rest of that stream cannot be trusted. A late reply to a PING/STATS whose caller timed out is
 * not such a reply: it is dropped ({@link Engine#auxTimedOut}).
 */
final class ReplyReader implements Runnable {
    /** Tests only: called before every read, to hold the reader back at a chosen moment. */
    interface Hook {
        void beforeRead(Engine e, Connection c);
    }

    static volatile Hook testHook;

    private final Engine e;
    private final Connection c;

    ReplyReader(Engine e, Connection c) {
        this.e = e;
        this.c = c;
    }

    @Override
    public void run() {
        SluiceException why;
        ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
        List<Settlement> out = new ArrayList<>();
        while (true) {
            int n;
            Hook hook = testHook;
            if (hook != null) hook.beforeRead(e, c);
            try {
                buf.clear();
                n = c.channel.read(buf);
            } catch (IOException ex) {
                why = new SluiceException(ErrorCode.CLOSED, 100, "reading from the gateway: " + ex, ex);
                break;
            }
            if (n < 0) {
                why = new SluiceException(ErrorCode.CLOSED, c.reader.pending() > 0
                        ? "server closed the connection in the middle of a frame" : "server closed the connection");
                break;
            }
            c.reader.feed(buf.array(), 0, n);
            e.lock.lock();
            try {
                why = handleAll(out);
            } finally {
                e.lock.unlock();
            }
            e.deliver(out);
            out.clear();
            if (why != null) break;
        }
        e.lock.lock();
        try {
            e.connectionLost(c, why, out);
        } finally {
            e.lock.unlock();
        }
        e.deliver(out);
    }

    /** Handles every complete frame; a non-null result breaks the connection at once. Caller holds the lock. */
    private SluiceException handleAll(List<Settlement> out) {
        if (c != e.conn) return new SluiceException(ErrorCode.CLOSED, "the connection was replaced");
        while (true) {
            ServerFrame f;
            try {
                f = c.reader.next();
            } catch (SluiceException v) {
                return new SluiceException(ErrorCode.PROTOCOL, "malformed frame from the gateway: " + v.getMessage());
            }
            if (f == null) return null;
            SluiceException why = handle(f, out);
            if (why != null) return why;
        }
    }

    private SluiceException handle(ServerFrame f, List<Settlement> out) {
        switch (f.type) {
            case Wire.ACK: return ack(f, out);
            case Wire.ERROR: return error(f, out);
            case Wire.PONG: case Wire.STATS_REPLY: {
                AuxRequest a = e.auxWaiting.remove(f.requestId);
                if (a == null && e.auxTimedOut.remove(f.requestId)) return null; // its caller gave up: drop it
                if (a == null || a.expectedReply() != f.type) {
                    SluiceException why = protocol("unexpected reply type " + f.type + " for request id "
                            + f.requestId);
                    if (a != null) a.fail(why); // removed from auxWaiting: connectionLost would not fail it
                    return why;
                }
                a.reply.complete(f.body);
                return null;
            }
            default:
                return new SluiceException(ErrorCode.PROTOCOL_STATE, "HELLO_OK after the handshake");
        }
    }

    private SluiceException ack(ServerFrame f, List<Settlement> out) {
        Batch b = e.inflight.get(f.requestId);
        if (b == null) {
            Batch gone = e.written.remove(f.requestId);
            if (e.opts.ackLevel == AckLevel.NONE && (gone == null || gone.records.length == f.ackCount)) {
                reportFailures(gone, f, out); // failures of a batch already written and let go
                return null;
            }
            return protocol("ACK for unknown request id " + f.requestId);
        }
        if (f.ackCount != b.records.length) {
            return protocol("ACK for request " + f.requestId + " counts " + f.ackCount + " records, the batch has "
                    + b.records.length);
        }
        e.inflight.remove(f.requestId);
        if (f.failIndex.length == 0) {
            out.add(Settlement.allOk(b.records));
            e.release(b);
            return null;
        }
        int k = 0;
        for (int i = 0; i < b.records.length; i++) {
            if (k < f.failIndex.length && f.failIndex[k] == i) {
                out.add(Settlement.refused(b.records[i], f.failCode[k], ""));
                k++;
            } else {
                out.add(Settlement.ok(b.records[i]));
            }
        }
        e.failedRecords += f.failIndex.length;
        e.release(b);
        return null;
    }

    private void reportFailures(Batch gone, ServerFrame f, List<Settlement> out) {
        for (int k = 0; k < f.failIndex.length; k++) {
            RecordFuture rf = gone == null ? null : gone.records[f.failIndex[k]];
            out.add(Settlement.refused(rf, f.failCode[k], "")); // its future already completed: only the listener
        }
        e.failedRecords += f.failIndex.length;
    }

    private SluiceException error(ServerFrame f, List<Settlement> out) {
        int id = f.requestId;
        AuxRequest a = id == 0 ? null : e.auxWaiting.remove(id);
        Batch b = id == 0 ? null : e.inflight.get(id);
        if (a != null) {
            a.fail(new SluiceException(ErrorCode.of(f.errorCode), f.errorCode, f.message, null));
        } else if (b != null) {
            e.inflight.remove(id);
            if (f.retriable()) { // none of it was taken: send it again after a pause, ahead of later batches
                b.state = Batch.QUEUED;
                b.requestId = 0;
                b.conn = null;
                b.notBeforeNanos = System.nanoTime() + e.backoffNanos(b.retries++);
                e.pending.addFirst(b);
                e.writerWake.signal();
            } else {
                for (RecordFuture rf : b.records) out.add(Settlement.refused(rf, f.errorCode, f.message));
                e.failedRecords += b.records.length;
                e.release(b);
            }
        } else if (id != 0 && e.auxTimedOut.remove(id)) {
            // a late ERROR for a PING/STATS whose caller timed out: nobody waits for it (a closing one still closes)
        } else if (e.opts.ackLevel == AckLevel.NONE && e.written.containsKey(id)) {
            Batch gone = e.written.remove(id);
            for (RecordFuture rf : gone.records) out.add(Settlement.refused(rf, f.errorCode, f.message));
            e.failedRecords += gone.records.length;
        } else if (id != 0 && !f.closing()) {
            return protocol("ERROR for unknown request id " + id);
        }
        if (f.closing()) {
            // SHUTTING_DOWN and the like: the gateway has sent every reply it will send and closes; keep reading
            // to EOF (bounded by the drain timeout) so nothing it acked is resent.
            e.lastConnectionError = new SluiceException(ErrorCode.of(f.errorCode), f.errorCode,
                    "server closed the connection: " + f.message, null);
            if (c.forceCloseAtNanos == 0) {
                c.forceCloseAtNanos = System.nanoTime() + e.opts.drainTimeout.toNanos();
                e.writerWake.signal();
            }
            c.writeFailed = true; // nothing more is written on a closing connection
        }
        return null;
    }

    private static SluiceException protocol(String message) {
        return new SluiceException(ErrorCode.PROTOCOL, message);
    }
}
