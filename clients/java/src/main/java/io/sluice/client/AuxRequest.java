package io.sluice.client;

import java.util.concurrent.CompletableFuture;

/** A PING or STATS request: its frame and the future of its reply's body. */
final class AuxRequest {
    final int type;
    final byte[] payload;
    final CompletableFuture<byte[]> reply = new CompletableFuture<>();
    int requestId;

    AuxRequest(int type, byte[] payload) {
        this.type = type;
        this.payload = payload;
    }

    byte[] frame() {
        return type == Wire.PING ? Wire.ping(requestId, payload) : Wire.stats(requestId);
    }

    int expectedReply() {
        return type == Wire.PING ? Wire.PONG : Wire.STATS_REPLY;
    }

    void fail(SluiceException e) {
        reply.completeExceptionally(e);
    }
}
