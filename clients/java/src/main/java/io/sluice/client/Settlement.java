package io.sluice.client;

/** The outcome of one record, collected under the engine's lock and delivered after it is released. */
final class Settlement {
    final RecordFuture future;
    final SluiceException error;
    /** Whether the failure listener hears of it (a failure the gateway reported). */
    final boolean report;
    final PublishFailure failure;
    /** A whole batch that succeeded: every record's future completes (one settlement, not one per record). */
    final RecordFuture[] batch;

    private Settlement(RecordFuture future, SluiceException error, boolean report, PublishFailure failure) {
        this.future = future;
        this.error = error;
        this.report = report;
        this.failure = failure;
        this.batch = null;
    }

    private Settlement(RecordFuture[] batch) {
        this.future = null;
        this.error = null;
        this.report = false;
        this.failure = null;
        this.batch = batch;
    }

    /** Every record of a batch succeeded. */
    static Settlement allOk(RecordFuture[] records) {
        return new Settlement(records);
    }

    static Settlement ok(RecordFuture f) {
        return new Settlement(f, null, false, null);
    }

    /** A failure that only the record's future hears of (the client closed, for instance). */
    static Settlement local(RecordFuture f, SluiceException e) {
        return new Settlement(f, e, false, null);
    }

    /** A record the gateway refused: its future fails and the failure listener is told. */
    static Settlement refused(RecordFuture f, int wireCode, String message) {
        ErrorCode code = ErrorCode.of(wireCode);
        String text = message.isEmpty() ? "the gateway refused the record" : message;
        SluiceException e = new SluiceException(code, wireCode, text, null);
        PublishFailure pf = f == null
                ? new PublishFailure(null, null, null, code, wireCode, message)
                : new PublishFailure(f.topic, f.key, f.eventId(), code, wireCode, message);
        return new Settlement(f, e, true, pf);
    }

    void deliver(FailureListener listener) {
        if (batch != null) {
            for (RecordFuture f : batch) f.complete(f.eventId());
            return;
        }
        if (future != null) {
            if (error == null) future.complete(future.eventId());
            else future.completeExceptionally(error);
        }
        if (report && listener != null) {
            try {
                listener.onFailure(failure);
            } catch (RuntimeException ignored) {
                // a listener's exception must not stop the client's I/O thread
            }
        }
    }
}
