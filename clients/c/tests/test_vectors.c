/* proto-spec/vectors/frames.tsv against the reader (s2c) and the encoder (c2s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "encode.h"
#include "harness.h"
#include "proto.h"
#include "reader.h"
#include "sluice.h"

static t_vector *V;
static size_t NV;

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

static const t_vector *need(const char *name) {
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

static void check_bytes(const char *what, const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len) {
    int same = got_len == want_len && memcmp(got, want, want_len) == 0;
    if (!same) {
        char *g = t_hex(got, got_len > 200 ? 200 : got_len), *w = t_hex(want, want_len > 200 ? 200 : want_len);
        h_fail(__FILE__, __LINE__, what, "bytes differ\n    got  (%zu) %s\n    want (%zu) %s", got_len, g,
               want_len, w);
        free(g);
        free(w);
    }
}

static void test_c2s_control_frames(void) {
    sluice_buf b = {0};
    const t_vector *v;
    if ((v = need("hello_v1"))) {
        b.len = 0;
        CHECK(sluice_encode_hello(&b, 1, 1, 1, "c", 1) == 0, "encode hello");
        check_bytes("hello_v1", b.data, b.len, v->frame, v->frame_len);
    }
    if ((v = need("hello_range_1_3"))) {
        b.len = 0;
        CHECK(sluice_encode_hello(&b, 1, 1, 3, "libsluice/9", 11) == 0, "encode hello");
        check_bytes("hello_range_1_3", b.data, b.len, v->frame, v->frame_len);
    }
    if ((v = need("ping_hi"))) {
        b.len = 0;
        CHECK(sluice_encode_ping(&b, 7, "hi", 2) == 0, "encode ping");
        check_bytes("ping_hi", b.data, b.len, v->frame, v->frame_len);
    }
    if ((v = need("ping_empty"))) {
        b.len = 0;
        CHECK(sluice_encode_ping(&b, 8, "", 0) == 0, "encode ping");
        check_bytes("ping_empty", b.data, b.len, v->frame, v->frame_len);
    }
    if ((v = need("stats"))) {
        b.len = 0;
        CHECK(sluice_encode_stats(&b, 10) == 0, "encode stats");
        check_bytes("stats", b.data, b.len, v->frame, v->frame_len);
    }
    b.len = 0;
    uint8_t big[300] = {0};
    CHECK(sluice_encode_ping(&b, 1, big, 257) < 0, "a PING over 256 bytes must be refused");
    sluice_buf_free(&b);
}

static void encode_batch(sluice_buf *b, uint8_t ack, const sluice_record *recs, size_t n, uint32_t req) {
    sluice_batch_begin(b, ack);
    for (size_t i = 0; i < n; i++) sluice_batch_add(b, &recs[i]);
    sluice_batch_finish(b, (uint32_t)n);
    sluice_frame_set_request_id(b->data, req);
}

static void test_c2s_publish(void) {
    sluice_buf b = {0};
    const t_vector *v;
    sluice_record r;

    memset(&r, 0, sizeof(r));
    r.topic = "t";
    r.key = "p1";
    r.key_len = 2;
    r.value = "v";
    r.value_len = 1;
    if ((v = need("publish_one_plain"))) {
        encode_batch(&b, SLUICE_ACK_DURABLE, &r, 1, 2);
        check_bytes("publish_one_plain payload", b.data + 16, b.len - 16, v->frame + 16, v->frame_len - 16);
        check_bytes("publish_one_plain frame", b.data, b.len, v->frame, v->frame_len);
        CHECK(sluice_record_encoded_size(&r) + SLUICE_PUBLISH_PREAMBLE == b.len - 16, "encoded size");
    }
    if ((v = need("publish_ack_none"))) {
        encode_batch(&b, SLUICE_ACK_NONE, &r, 1, 2);
        check_bytes("publish_ack_none frame", b.data, b.len, v->frame, v->frame_len);
    }

    if ((v = need("publish_full_record"))) {
        sluice_header h[2] = {{"source", "svc-a", 5}, {"trace", "\x00\x01", 2}};
        memset(&r, 0, sizeof(r));
        r.topic = "game.events-v1_x";
        r.key = "player-42";
        r.key_len = 9;
        r.event_type = "login";
        for (int i = 0; i < 16; i++) r.event_id[i] = (uint8_t)(i + 1);
        r.timestamp_ms = 0x0000019acf32bc00LL;
        r.headers = h;
        r.n_headers = 2;
        r.value = "{\"level\":3}";
        r.value_len = 11;
        encode_batch(&b, SLUICE_ACK_ACCEPTED, &r, 1, 2);
        check_bytes("publish_full_record payload", b.data + 16, b.len - 16, v->frame + 16, v->frame_len - 16);
        check_bytes("publish_full_record frame", b.data, b.len, v->frame, v->frame_len);
        CHECK(sluice_record_encoded_size(&r) + SLUICE_PUBLISH_PREAMBLE == b.len - 16, "encoded size");
        CHECK(sluice_record_content_size(&r) == 16 + 9 + 5 + 6 + 5 + 5 + 2 + 11, "content size %llu",
              (unsigned long long)sluice_record_content_size(&r));
    }

    if ((v = need("publish_zstd_50")) && v->plain) {
        sluice_record recs[50];
        char keys[50][24], vals[50][24];
        memset(recs, 0, sizeof(recs));
        for (int i = 0; i < 50; i++) {
            snprintf(keys[i], sizeof(keys[i]), "player-%d", i);
            snprintf(vals[i], sizeof(vals[i]), "event %d", i);
            recs[i].topic = "t";
            recs[i].key = keys[i];
            recs[i].key_len = strlen(keys[i]);
            recs[i].value = vals[i];
            recs[i].value_len = strlen(vals[i]);
        }
        encode_batch(&b, SLUICE_ACK_DURABLE, recs, 50, 3);
        check_bytes("publish_zstd_50 plain payload", b.data + 16, b.len - 16, v->plain, v->plain_len);

        ZSTD_CCtx *cctx = ZSTD_createCCtx();
        for (int level = 1; level <= 3; level += 2) {
            uint8_t *z = NULL;
            size_t zlen = 0;
            int rc = sluice_compress_frame(cctx, level, b.data, b.len, &z, &zlen);
            REQUIRE(rc == 1, "compressing 50 similar records must help (rc %d)", rc);
            CHECK(sluice_get16(z + 4) == SLUICE_FLAG_COMPRESSED, "COMPRESSED flag");
            CHECK(sluice_get32(z + 8) == 3, "request id kept");
            CHECK(sluice_get32(z + 12) == zlen - 16, "payload length is the compressed size");
            CHECK(memcmp(z, b.data, 4) == 0, "magic, version, type kept");
            unsigned long long declared = ZSTD_getFrameContentSize(z + 16, zlen - 16);
            CHECK(declared == v->plain_len, "declared content size %llu, want %zu", declared, v->plain_len);
            uint8_t *out = NULL;
            size_t out_len = 0;
            CHECK(sluice_decompress(z + 16, zlen - 16, 4194304, &out, &out_len) == 0, "decompress own output");
            if (out) check_bytes("round trip", out, out_len, v->plain, v->plain_len);
            free(out);
            free(z);
        }
        ZSTD_freeCCtx(cctx);
        /* The vector's own compressed frame decompresses to its plain column. */
        uint8_t *out = NULL;
        size_t out_len = 0;
        CHECK(sluice_decompress(v->frame + 16, v->frame_len - 16, 4194304, &out, &out_len) == 0, "vector frame");
        if (out) check_bytes("vector zstd", out, out_len, v->plain, v->plain_len);
        free(out);
    }

    /* Incompressible payloads are sent plain. */
    {
        uint8_t noise[64];
        uint64_t seed = 99;
        for (size_t i = 0; i < sizeof(noise); i++) noise[i] = (uint8_t)t_rand(&seed);
        memset(&r, 0, sizeof(r));
        r.topic = "t";
        r.key = "k";
        r.key_len = 1;
        memcpy(r.event_id, noise, 16);
        r.timestamp_ms = 0x0123456789abcdefLL;
        r.value = noise + 16;
        r.value_len = 48;
        encode_batch(&b, 0, &r, 1, 1);
        ZSTD_CCtx *cctx = ZSTD_createCCtx();
        uint8_t *z = NULL;
        size_t zlen = 0;
        CHECK(sluice_compress_frame(cctx, 1, b.data, b.len, &z, &zlen) == 0, "tiny payload not worth compressing");
        free(z);
        ZSTD_freeCCtx(cctx);
    }
    sluice_buf_free(&b);
}

/* Re-encodes decoded records: must reproduce the payload byte for byte. */
static int reencode(const uint8_t *payload, size_t len, sluice_buf *out, int *records) {
    uint8_t ack;
    uint32_t count;
    sluice_payload_cursor cur;
    int rc = sluice_payload_open(payload, len, &ack, &count, &cur);
    if (rc) return rc;
    sluice_batch_begin(out, ack);
    sluice_rec_view rv;
    int got;
    uint32_t n = 0;
    while ((got = sluice_payload_next(&cur, &rv)) == 1) {
        char *topic = calloc(1, rv.topic_len + 1), *et = calloc(1, rv.event_type_len + 1);
        memcpy(topic, rv.topic, rv.topic_len);
        memcpy(et, rv.event_type, rv.event_type_len);
        sluice_header *hs = calloc(rv.n_headers + 1u, sizeof(*hs));
        char **names = calloc(rv.n_headers + 1u, sizeof(char *));
        for (uint16_t i = 0; i < rv.n_headers; i++) {
            const uint8_t *nm, *val;
            size_t nl, vl;
            sluice_rec_header(&rv, i, &nm, &nl, &val, &vl);
            names[i] = calloc(1, nl + 1);
            memcpy(names[i], nm, nl);
            hs[i].name = names[i];
            hs[i].value = val;
            hs[i].value_len = vl;
        }
        sluice_record r;
        memset(&r, 0, sizeof(r));
        r.topic = topic;
        r.key = rv.key;
        r.key_len = rv.key_len;
        r.event_type = et;
        memcpy(r.event_id, rv.event_id, 16);
        r.timestamp_ms = rv.timestamp_ms;
        r.headers = hs;
        r.n_headers = rv.n_headers;
        r.value = rv.value;
        r.value_len = rv.value_len;
        sluice_batch_add(out, &r);
        for (uint16_t i = 0; i < rv.n_headers; i++) free(names[i]);
        free(names);
        free(hs);
        free(topic);
        free(et);
        n++;
    }
    if (got < 0) return SLUICE_E_MALFORMED_PAYLOAD;
    sluice_batch_finish(out, n);
    *records = (int)n;
    return 0;
}

/* PUBLISH vectors through the payload decoder: valid ones re-encode byte for
 * byte, broken ones are refused with the vector's code; zstd rules too. */
static void test_c2s_publish_decoding(void) {
    int roundtrips = 0, refusals = 0;
    for (size_t i = 0; i < NV; i++) {
        const t_vector *v = &V[i];
        if (strcmp(v->direction, "c2s") != 0 || v->frame_len < 16 || v->frame[3] != SLUICE_T_PUBLISH) continue;
        if (sluice_get32(v->frame + 12) != v->frame_len - 16) continue; /* header-level vectors */
        int compressed = (sluice_get16(v->frame + 4) & SLUICE_FLAG_COMPRESSED) != 0;
        const uint8_t *payload = v->frame + 16;
        size_t plen = v->frame_len - 16;
        uint8_t *plain = NULL;
        int want = strncmp(v->expect, "error:", 6) == 0 ? atoi(v->expect + 6) : 0;
        if (want == SLUICE_E_TOO_MANY_RECORDS || want == SLUICE_E_RESERVED_BITS) {
            if (want == SLUICE_E_RESERVED_BITS && !compressed) {
                uint8_t ack;
                uint32_t count;
                sluice_payload_cursor cur;
                CHECK(sluice_payload_open(payload, plen, &ack, &count, &cur) == SLUICE_E_RESERVED_BITS, "%s",
                      v->name);
                refusals++;
            }
            continue; /* a server-side limit, not structure */
        }
        if (compressed) {
            int rc = sluice_decompress(payload, plen, SLUICE_DEF_MAX_DECOMPRESSED, &plain, &plen);
            if (want >= SLUICE_E_CONTENT_SIZE_MISSING && want <= SLUICE_E_BAD_COMPRESSION) {
                CHECK(rc == want, "%s: decompress gave %d, want %d", v->name, rc, want);
                free(plain);
                refusals++;
                continue;
            }
            REQUIRE(rc == 0, "%s: decompress gave %d", v->name, rc);
            if (v->plain) check_bytes(v->name, plain, plen, v->plain, v->plain_len);
            payload = plain;
        }
        sluice_buf out = {0};
        int n = 0;
        int rc = reencode(payload, plen, &out, &n);
        if (want) {
            CHECK(rc == want, "%s: decoder gave %d, want %d", v->name, rc, want);
            refusals++;
        } else {
            CHECK(rc == 0, "%s: decoder refused a valid payload (%d)", v->name, rc);
            if (rc == 0) check_bytes(v->name, out.data + 16, out.len - 16, payload, plen);
            roundtrips++;
        }
        sluice_buf_free(&out);
        free(plain);
    }
    CHECK(roundtrips >= 8, "only %d PUBLISH round trips", roundtrips);
    CHECK(refusals >= 10, "only %d PUBLISH refusals", refusals);
}

static void fake_failure(void *opaque, const sluice_failure *f) {
    (void)opaque;
    (void)f;
}

/* The client's local validation gives the per-record codes of the vectors
 * (default limits: a client whose connection failed keeps them). */
static void test_local_validation_matches_vectors(void) {
    sluice_options o;
    sluice_options_init(&o);
    o.on_failure = fake_failure;
    sluice_client *c = sluice_connect("/nonexistent-dir/sluice.sock", &o);
    REQUIRE(c != NULL, "connect returned NULL");
    CHECK(sluice_errcode(c) == SLUICE_E_IO && sluice_errno(c) != 0, "connect to a missing path: %s",
          sluice_errstr(c));
    int checked = 0;
    for (size_t i = 0; i < NV; i++) {
        const t_vector *v = &V[i];
        if (strncmp(v->expect, "records:", 8) != 0) continue;
        const uint8_t *payload = v->frame + 16;
        size_t plen = v->frame_len - 16;
        uint8_t *plain = NULL;
        if (sluice_get16(v->frame + 4) & SLUICE_FLAG_COMPRESSED) {
            REQUIRE(sluice_decompress(payload, plen, 1 << 22, &plain, &plen) == 0, "%s", v->name);
            payload = plain;
        }
        uint8_t ack;
        uint32_t count;
        sluice_payload_cursor cur;
        REQUIRE(sluice_payload_open(payload, plen, &ack, &count, &cur) == 0, "%s", v->name);
        const char *codes = v->expect + 8;
        sluice_rec_view rv;
        while (sluice_payload_next(&cur, &rv) == 1) {
            int want = atoi(codes);
            const char *comma = strchr(codes, ',');
            codes = comma ? comma + 1 : codes + strlen(codes);
            char *topic = calloc(1, rv.topic_len + 1);
            memcpy(topic, rv.topic, rv.topic_len);
            sluice_header *hs = calloc(rv.n_headers + 1u, sizeof(*hs));
            char **names = calloc(rv.n_headers + 1u, sizeof(char *));
            for (uint16_t k = 0; k < rv.n_headers; k++) {
                const uint8_t *nm, *val;
                size_t nl, vl;
                sluice_rec_header(&rv, k, &nm, &nl, &val, &vl);
                names[k] = calloc(1, nl + 1);
                memcpy(names[k], nm, nl);
                hs[k].name = names[k];
                hs[k].value = val;
                hs[k].value_len = vl;
            }
            char *et = calloc(1, rv.event_type_len + 1);
            memcpy(et, rv.event_type, rv.event_type_len);
            sluice_record r;
            memset(&r, 0, sizeof(r));
            r.topic = topic;
            r.key = rv.key;
            r.key_len = rv.key_len;
            r.event_type = et;
            r.timestamp_ms = rv.timestamp_ms;
            r.headers = hs;
            r.n_headers = rv.n_headers;
            r.value = rv.value;
            r.value_len = rv.value_len;
            uint64_t before = sluice_unacked_records(c);
            int rc = sluice_publish_record(c, &r);
            int got = rc == SLUICE_OK ? 0 : sluice_errcode(c);
            CHECK(got == want, "%s record: local validation gave %d (%s), the vector says %d", v->name, got,
                  sluice_errstr(c), want);
            CHECK(sluice_unacked_records(c) == before + (rc == SLUICE_OK), "%s: a refused record must not be taken",
                  v->name);
            checked++;
            for (uint16_t k = 0; k < rv.n_headers; k++) free(names[k]);
            free(names);
            free(hs);
            free(topic);
            free(et);
        }
        free(plain);
    }
    CHECK(checked >= 30, "only %d records checked", checked);
    sluice_close(c);
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
    h_run("vectors: c2s HELLO, PING, STATS byte-exact", test_c2s_control_frames);
    h_run("vectors: c2s PUBLISH encoding and zstd", test_c2s_publish);
    h_run("vectors: PUBLISH payload decoding and zstd rules", test_c2s_publish_decoding);
    h_run("vectors: local validation matches per-record codes", test_local_validation_matches_vectors);
    t_free_vectors(V, NV);
    V = NULL;
    NV = 0;
}
