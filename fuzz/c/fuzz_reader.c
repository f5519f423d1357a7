/* libFuzzer target for the C client's transport-free reader (clients/c/src/reader.c).
 *
 * The input is a byte stream as a server would send it. It is fed to a reader in three
 * splits (whole; byte at a time for the first 1 KiB, then the rest; chunks of 1-64
 * bytes drawn from a hash of the input) and drained after every feed. Besides ASan and
 * UBSan reports, the target aborts when:
 *
 *   - the outcome depends on the split;
 *   - a message's payload is not the stream's bytes at the frame's offset, or one of its
 *     pointers (server name, ACK failures, ERROR message, body) leaves the payload;
 *   - an ACK passes that breaks PROTOCOL.md section 3.3, or a header field is misread;
 *   - an error is not sticky, or sluice_reader_reset() does not give a fresh reader.
 *
 * A second reader with a 64-byte payload limit runs the same stream whole, so the
 * FRAME_TOO_LARGE path is reached with small inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reader.h"
#include "sluice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond, ...)                                                                           \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                            \
            fputc('\n', stderr);                                                                     \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

enum split { WHOLE, BYTES_THEN_REST, HASHED_CHUNKS, NSPLITS };
static const char *const split_names[NSPLITS] = {"whole", "bytes-then-rest", "hashed-chunks"};

/* What a run produced; compared across splits. */
typedef struct {
    unsigned messages;
    uint64_t digest; /* FNV-1a over every field of every message */
    int err;
    size_t consumed; /* stream bytes returned as messages */
    size_t pending;
} outcome;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v) { return fnv(h, &v, sizeof(v)); }

static int within(const void *inner, size_t inner_len, const uint8_t *outer, size_t outer_len) {
    const uint8_t *p = inner;
    if (inner_len == 0) return 1;
    return p >= outer && p <= outer + outer_len && inner_len <= (size_t)(outer + outer_len - p);
}

/* Checks one message against the stream bytes it came from and folds it into the digest. */
static void check_message(outcome *o, const sluice_msg *m, const uint8_t *stream, size_t size) {
    REQUIRE(o->consumed <= size && size - o->consumed >= SLUICE_HDR_LEN, "message past the stream end");
    const uint8_t *h = stream + o->consumed;
    REQUIRE(m->type == h[3], "type %u, header says %u", m->type, h[3]);
    REQUIRE(m->request_id == sluice_get32(h + 8), "request id misread");
    REQUIRE(m->payload_len == sluice_get32(h + 12), "payload length misread");
    REQUIRE(m->payload_len <= size - o->consumed - SLUICE_HDR_LEN, "payload past the stream end");
    /* Reads every payload byte, so ASan sees any overreach of the reader's buffer. */
    REQUIRE(memcmp(m->payload, h + SLUICE_HDR_LEN, m->payload_len) == 0, "payload differs from the stream");

    uint64_t d = o->digest;
    d = fnv_u64(d, m->type);
    d = fnv_u64(d, m->request_id);
    d = fnv(d, m->payload, m->payload_len);
    switch (m->type) {
    case SLUICE_T_HELLO_OK:
        REQUIRE(m->payload_len >= SLUICE_HELLO_OK_FIXED + 2, "short HELLO_OK accepted");
        REQUIRE(within(m->u.hello_ok.server_name, m->u.hello_ok.server_name_len, m->payload, m->payload_len),
                "server name outside the payload");
        d = fnv(d, &m->u.hello_ok.limits, sizeof(m->u.hello_ok.limits));
        d = fnv(d, m->u.hello_ok.server_name, m->u.hello_ok.server_name_len);
        break;
    case SLUICE_T_ACK: {
        uint32_t count = m->u.ack.record_count, failed = m->u.ack.failed_count;
        REQUIRE(failed <= count, "%u failures of %u records", failed, count);
        REQUIRE((uint64_t)m->payload_len == 8 + (uint64_t)failed * 6, "ACK length does not match failures");
        REQUIRE(within(m->u.ack.failures, (size_t)failed * 6, m->payload, m->payload_len),
                "failures outside the payload");
        uint32_t prev = 0;
        for (uint32_t i = 0; i < failed; i++) {
            uint32_t index;
            uint16_t code;
            sluice_ack_failure(m, i, &index, &code);
            REQUIRE(index < count, "failure index %u of %u records", index, count);
            REQUIRE(i == 0 || index > prev, "failure indexes not ascending");
            prev = index;
            d = fnv_u64(d, index);
            d = fnv_u64(d, code);
        }
        d = fnv_u64(d, count);
        break;
    }
    case SLUICE_T_ERROR:
        REQUIRE((m->u.error.flags & ~(SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE)) == 0, "reserved flags accepted");
        REQUIRE(within(m->u.error.message, m->u.error.message_len, m->payload, m->payload_len),
                "message outside the payload");
        REQUIRE(m->u.error.message_len + 6 == m->payload_len, "ERROR message does not fill the payload");
        d = fnv_u64(d, m->u.error.code);
        d = fnv_u64(d, m->u.error.flags);
        d = fnv(d, m->u.error.message, m->u.error.message_len);
        break;
    case SLUICE_T_PONG:
        REQUIRE(m->payload_len <= SLUICE_MAX_PING, "PONG of %u bytes accepted", m->payload_len);
        /* fall through */
    case SLUICE_T_STATS_REPLY:
        REQUIRE(within(m->u.body.data, m->u.body.len, m->payload, m->payload_len), "body outside the payload");
        d = fnv(d, m->u.body.data, m->u.body.len);
        break;
    default:
        REQUIRE(0, "message of type %u returned", m->type);
    }
    o->digest = d;
    o->messages++;
    o->consumed += SLUICE_HDR_LEN + (size_t)m->payload_len;
}

/* Pulls messages until the reader needs bytes or fails. */
static void drain(sluice_reader *r, outcome *o, const uint8_t *stream, size_t size) {
    for (;;) {
        sluice_msg m;
        int rc = sluice_reader_next(r, &m);
        if (rc == 0) return;
        if (rc < 0) {
            o->err = sluice_reader_error(r);
            REQUIRE(o->err != 0, "next() failed without an error code");
            REQUIRE(sluice_reader_errstr(r)[0] != '\0', "error %d without a message", o->err);
            return;
        }
        REQUIRE(rc == 1, "next() returned %d", rc);
        check_message(o, &m, stream, size);
    }
}

/* Chunk boundaries: xorshift seeded with a hash of the input, so a reproducer splits alike. */
static size_t next_chunk(enum split s, size_t offset, size_t left, uint64_t *state) {
    switch (s) {
    case WHOLE: return left;
    case BYTES_THEN_REST: return offset < 1024 ? 1 : left;
    default:
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return left < (size_t)(*state % 64) + 1 ? left : (size_t)(*state % 64) + 1;
    }
}

static outcome run(sluice_reader *r, const uint8_t *data, size_t size, enum split s, uint64_t seed) {
    outcome o;
    memset(&o, 0, sizeof(o));
    o.digest = 0xcbf29ce484222325ull;
    uint64_t state = seed | 1;
    size_t offset = 0;
    while (offset < size && o.err == 0) {
        size_t k = next_chunk(s, offset, size - offset, &state);
        REQUIRE(sluice_reader_feed(r, data + offset, k) == 0, "feed failed: %s", sluice_reader_errstr(r));
        offset += k;
        drain(r, &o, data, size);
        if (o.err == 0)
            REQUIRE(sluice_reader_pending(r) == offset - o.consumed, "pending %zu, fed %zu, consumed %zu",
                    sluice_reader_pending(r), offset, o.consumed);
    }
    o.pending = sluice_reader_pending(r);
    if (o.err != 0) {
        /* Errors are sticky: more bytes are dropped and next() keeps failing. */
        sluice_msg m;
        REQUIRE(sluice_reader_feed(r, data, size) == 0, "feed after an error");
        REQUIRE(sluice_reader_next(r, &m) == -1 && sluice_reader_error(r) == o.err, "error not sticky");
        REQUIRE(sluice_reader_pending(r) == o.pending, "bytes buffered after an error");
    }
    return o;
}

/* After an error the reader drops further bytes, so what it holds then depends on the split. */
static int same(const outcome *a, const outcome *b) {
    return a->messages == b->messages && a->digest == b->digest && a->err == b->err && a->consumed == b->consumed &&
           (a->err != 0 || a->pending == b->pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint64_t seed = fnv(0xcbf29ce484222325ull, data, size);
    outcome first;
    for (int s = 0; s < NSPLITS; s++) {
        sluice_reader *r = sluice_reader_create(0);
        REQUIRE(r != NULL, "out of memory");
        outcome o = run(r, data, size, (enum split)s, seed);
        if (s == 0) {
            first = o;
        } else {
            REQUIRE(same(&o, &first), "split %s: %u messages, error %d, %zu pending; whole: %u, %d, %zu",
                    split_names[s], o.messages, o.err, o.pending, first.messages, first.err, first.pending);
        }
        /* After a reset the reader behaves like a new one. */
        sluice_reader_reset(r);
        REQUIRE(sluice_reader_error(r) == 0 && sluice_reader_pending(r) == 0, "reset left state behind");
        outcome again = run(r, data, size, WHOLE, seed);
        REQUIRE(same(&again, &first), "after reset: %u messages, error %d; fresh: %u, %d", again.messages, again.err,
                first.messages, first.err);
        sluice_reader_free(r);
    }

    sluice_reader *small = sluice_reader_create(64);
    REQUIRE(small != NULL, "out of memory");
    outcome o = run(small, data, size, WHOLE, seed);
    REQUIRE(o.messages <= first.messages, "a 64-byte limit let more messages through");
    sluice_reader_free(small);
    return 0;
}
