/* proto-spec/vectors/frames.tsv against the reader (s2c) here; the encoder (c2s) in
 * test_vectors_c2s.c, the payload decoder and local validation in test_vectors_payload.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "encode.h"
#include "harness.h"
#include "proto.h"
#include "reader.h"
#include "sluice.h"
#include "vectors.h"

t_vector *V;
size_t NV;

/* What a reader run produced; fields copied out while the message was valid. */
typedef struct {
    int msgs;
    int err;
    size_t pending;
    uint8_t type;
    uint32_t request_id;
    sluice_limits limits;
    char name[64];
    uint32_t ack_count, ack_failed, fail_index[4];
    uint16_t fail_code[4];
    uint16_t err_code;
    uint8_t err_flags;
    char body[300];
    size_t body_len;
} run_result;

static void snapshot(run_result *rr, const sluice_msg *m) {
    rr->type = m->type;
    rr->request_id = m->request_id;
    switch (m->type) {
    case SLUICE_T_HELLO_OK:
        rr->limits = m->u.hello_ok.limits;
        snprintf(rr->name, sizeof(rr->name), "%.*s", (int)m->u.hello_ok.server_name_len, m->u.hello_ok.server_name);
        break;
    case SLUICE_T_ACK:
        rr->ack_count = m->u.ack.record_count;
        rr->ack_failed = m->u.ack.failed_count;
        for (uint32_t i = 0; i < m->u.ack.failed_count && i < 4; i++)
            sluice_ack_failure(m, i, &rr->fail_index[i], &rr->fail_code[i]);
        break;
    case SLUICE_T_ERROR:
        rr->err_code = m->u.error.code;
        rr->err_flags = m->u.error.flags;
        snprintf(rr->body, sizeof(rr->body), "%.*s", (int)m->u.error.message_len, m->u.error.message);
        rr->body_len = m->u.error.message_len;
        break;
    default:
        rr->body_len = m->u.body.len;
        snprintf(rr->body, sizeof(rr->body), "%.*s", (int)m->u.body.len, (const char *)m->u.body.data);
        break;
    }
}

/* Feeds bytes in chunks: mode 0 whole, 1 one byte at a time, 2 random splits. */
static run_result run_reader(const uint8_t *p, size_t n, int mode, uint64_t seed) {
    run_result rr;
    memset(&rr, 0, sizeof(rr));
    sluice_reader *r = sluice_reader_create(0);
    size_t off = 0;
    while (off < n && !rr.err) {
        size_t chunk = n - off;
        if (mode == 1) chunk = 1;
        if (mode == 2) chunk = 1 + t_rand(&seed) % (n - off < 40 ? n - off : 40);
        sluice_reader_feed(r, p + off, chunk);
        off += chunk;
        for (;;) {
            sluice_msg m;
            int rc = sluice_reader_next(r, &m);
            if (rc == 0) break;
            if (rc < 0) {
                rr.err = sluice_reader_error(r);
                break;
            }
            rr.msgs++;
            snapshot(&rr, &m);
        }
    }
    rr.pending = sluice_reader_pending(r);
    sluice_reader_free(r);
    return rr;
}

static void test_s2c_vectors(void) {
    int checked = 0;
    for (size_t i = 0; i < NV; i++) {
        const t_vector *v = &V[i];
        if (strcmp(v->direction, "s2c") != 0) continue;
        checked++;
        for (int mode = 0; mode < 3; mode++) {
            for (uint64_t seed = 1; seed <= (mode == 2 ? 25u : 1u); seed++) {
                run_result rr = run_reader(v->frame, v->frame_len, mode, seed * 7919);
                if (strcmp(v->expect, "ok") == 0) {
                    CHECK(rr.msgs == 1 && rr.err == 0 && rr.pending == 0, "%s mode %d: msgs=%d err=%d pending=%zu",
                          v->name, mode, rr.msgs, rr.err, rr.pending);
                } else if (strncmp(v->expect, "error:", 6) == 0) {
                    int want = atoi(v->expect + 6);
                    CHECK(rr.msgs == 0 && rr.err == want, "%s mode %d: want error %d, got err=%d msgs=%d", v->name,
                          mode, want, rr.err, rr.msgs);
                } else if (strcmp(v->expect, "incomplete") == 0) {
                    CHECK(rr.msgs == 0 && rr.err == 0 && rr.pending == v->frame_len, "%s mode %d: not incomplete",
                          v->name, mode);
                } else {
                    CHECK(0, "%s: unknown expectation %s", v->name, v->expect);
                }
            }
        }
    }
    CHECK(checked >= 10, "only %d s2c vectors", checked);
}

const t_vector *need(const char *name) {
    const t_vector *v = t_find_vector(V, NV, name);
    if (v == NULL) h_fail(__FILE__, __LINE__, name, "vector missing from frames.tsv");
    return v;
}

static void test_s2c_fields(void) {
    const t_vector *v;
    run_result rr;
    if ((v = need("hello_ok"))) {
        rr = run_reader(v->frame, v->frame_len, 1, 0);
        CHECK(rr.type == SLUICE_T_HELLO_OK && rr.request_id == 1, "type %u id %u", rr.type, rr.request_id);
        CHECK(rr.limits.version == 1, "version %u", rr.limits.version);
        CHECK(rr.limits.max_frame_bytes == 1048576, "max_frame_bytes %u", rr.limits.max_frame_bytes);
        CHECK(rr.limits.max_decompressed_bytes == 4194304, "max_decompressed %u", rr.limits.max_decompressed_bytes);
        CHECK(rr.limits.max_records == 10000, "max_records %u", rr.limits.max_records);
        CHECK(rr.limits.max_record_bytes == 1000000, "max_record_bytes %u", rr.limits.max_record_bytes);
        CHECK(rr.limits.max_key_bytes == 1024, "max_key_bytes %u", rr.limits.max_key_bytes);
        CHECK(rr.limits.max_headers == 64, "max_headers %u", rr.limits.max_headers);
        CHECK(rr.limits.max_header_bytes == 65536, "max_header_bytes %u", rr.limits.max_header_bytes);
        CHECK(strcmp(rr.name, "sluice/0.1.0") == 0, "server name %s", rr.name);
    }
    if ((v = need("hello_ok_future_fields"))) {
        rr = run_reader(v->frame, v->frame_len, 0, 0);
        CHECK(rr.msgs == 1 && strcmp(rr.name, "sluice/9") == 0 && rr.limits.max_records == 10000,
              "future fields: name %s", rr.name);
    }
    if ((v = need("ack_one_failed"))) {
        rr = run_reader(v->frame, v->frame_len, 1, 0);
        CHECK(rr.type == SLUICE_T_ACK && rr.request_id == 9, "type %u id %u", rr.type, rr.request_id);
        CHECK(rr.ack_count == 3 && rr.ack_failed == 1, "count %u failed %u", rr.ack_count, rr.ack_failed);
        CHECK(rr.fail_index[0] == 1 && rr.fail_code[0] == SLUICE_E_INVALID_KEY, "failure %u:%u", rr.fail_index[0],
              rr.fail_code[0]);
    }
    if ((v = need("ack_all_ok"))) {
        rr = run_reader(v->frame, v->frame_len, 0, 0);
        CHECK(rr.ack_count == 3 && rr.ack_failed == 0 && rr.request_id == 9, "ack_all_ok");
    }
    if ((v = need("error_bad_magic"))) {
        rr = run_reader(v->frame, v->frame_len, 1, 0);
        CHECK(rr.type == SLUICE_T_ERROR && rr.request_id == 0, "type %u id %u", rr.type, rr.request_id);
        CHECK(rr.err_code == SLUICE_E_BAD_MAGIC && rr.err_flags == SLUICE_ERRF_CLOSING, "code %u flags %u",
              rr.err_code, rr.err_flags);
        CHECK(strcmp(rr.body, "bad magic") == 0, "message '%s'", rr.body);
    }
    if ((v = need("error_overloaded"))) {
        rr = run_reader(v->frame, v->frame_len, 0, 0);
        CHECK(rr.err_code == SLUICE_E_OVERLOADED && rr.err_flags == SLUICE_ERRF_RETRIABLE && rr.request_id == 4,
              "code %u flags %u", rr.err_code, rr.err_flags);
        CHECK(strcmp(rr.body, "slow down") == 0, "message '%s'", rr.body);
    }
    if ((v = need("pong_hi"))) {
        rr = run_reader(v->frame, v->frame_len, 1, 0);
        CHECK(rr.type == SLUICE_T_PONG && rr.request_id == 7 && rr.body_len == 2 && memcmp(rr.body, "hi", 2) == 0,
              "pong type %u id %u len %zu", rr.type, rr.request_id, rr.body_len);
    }
    if ((v = need("stats_reply"))) {
        rr = run_reader(v->frame, v->frame_len, 0, 0);
        CHECK(rr.type == SLUICE_T_STATS_REPLY && strcmp(rr.body, "{\"uptimeSeconds\":1}") == 0, "stats '%s'",
              rr.body);
    }
    /* Several frames back to back in one stream, in random splits. */
    const t_vector *a = need("hello_ok"), *b = need("ack_one_failed"), *c = need("pong_hi");
    if (a && b && c) {
        size_t n = a->frame_len + b->frame_len + c->frame_len;
        uint8_t *s = malloc(n);
        memcpy(s, a->frame, a->frame_len);
        memcpy(s + a->frame_len, b->frame, b->frame_len);
        memcpy(s + a->frame_len + b->frame_len, c->frame, c->frame_len);
        for (uint64_t seed = 1; seed < 20; seed++) {
            rr = run_reader(s, n, 2, seed);
            CHECK(rr.msgs == 3 && rr.err == 0 && rr.type == SLUICE_T_PONG, "stream of 3 frames: msgs %d", rr.msgs);
        }
        free(s);
    }
}

void check_bytes(const char *what, const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len) {
    int same = got_len == want_len && memcmp(got, want, want_len) == 0;
    if (!same) {
        char *g = t_hex(got, got_len > 200 ? 200 : got_len), *w = t_hex(want, want_len > 200 ? 200 : want_len);
        h_fail(__FILE__, __LINE__, what, "bytes differ\n    got  (%zu) %s\n    want (%zu) %s", got_len, g,
               want_len, w);
        free(g);
        free(w);
    }
}

static const char *vectors_path;

static void test_load(void) {
    REQUIRE(t_load_vectors(vectors_path, &V, &NV) == 0, "cannot load vectors from %s", vectors_path);
    CHECK(NV >= 50, "only %zu vectors in %s", NV, vectors_path);
}

void vector_tests(const char *path) {
    vectors_path = path;
    h_run("vectors: load frames.tsv", test_load);
    if (V == NULL) return;
    h_run("vectors: s2c frames whole, byte by byte, random splits", test_s2c_vectors);
    h_run("vectors: s2c field values", test_s2c_fields);
    vector_c2s_tests();
    vector_payload_tests();
    t_free_vectors(V, NV);
    V = NULL;
    NV = 0;
}
