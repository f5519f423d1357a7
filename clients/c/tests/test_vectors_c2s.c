/* proto-spec/vectors/frames.tsv against the encoder: HELLO, PING, STATS and PUBLISH
 * frames byte-exact, zstd included. */
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

void vector_c2s_tests(void) {
    h_run("vectors: c2s HELLO, PING, STATS byte-exact", test_c2s_control_frames);
    h_run("vectors: c2s PUBLISH encoding and zstd", test_c2s_publish);
}
