package io.sluice.client;

/**
 * Called once for every record the gateway refused (a per-record code in an ACK, or an ERROR refusing its batch).
 *
 * <p>It runs on the client's I/O thread after the record's future has completed: keep it short and never block
 * in it (hand work to an executor). Records refused locally by {@code publish} are not reported here: their
 * futures are already failed when {@code publish} returns.
 */
@FunctionalInterface
public interface FailureListener {
    /** Receives one refused record. */
    void onFailure(PublishFailure failure);
}
