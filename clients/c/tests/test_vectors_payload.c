/* proto-spec/vectors/frames.tsv against the PUBLISH payload decoder (round trips,
 * refusals, zstd rules) and the client's local validation. */
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

/* A decoded record as a sluice_record (event id left zero), its topic, event type and
 * header names copied out as C strings; record_free() frees them. */
typedef struct {
    sluice_record r;
    char *topic, *et, **names;
    sluice_header *hs;
} decoded_record;

static void record_of_view(decoded_record *d, const sluice_rec_view *rv) {
    d->topic = calloc(1, rv->topic_len + 1);
    memcpy(d->topic, rv->topic, rv->topic_len);
    d->et = calloc(1, rv->event_type_len + 1);
    memcpy(d->et, rv->event_type, rv->event_type_len);
    d->hs = calloc(rv->n_headers + 1u, sizeof(*d->hs));
    d->names = calloc(rv->n_headers + 1u, sizeof(char *));
    for (uint16_t i = 0; i < rv->n_headers; i++) {
        const uint8_t *nm, *val;
        size_t nl, vl;
        sluice_rec_header(rv, i, &nm, &nl, &val, &vl);
        d->names[i] = calloc(1, nl + 1);
        memcpy(d->names[i], nm, nl);
        d->hs[i].name = d->names[i];
        d->hs[i].value = val;
        d->hs[i].value_len = vl;
    }
    memset(&d->r, 0, sizeof(d->r));
    d->r.topic = d->topic;
    d->r.key = rv->key;
    d->r.key_len = rv->key_len;
    d->r.event_type = d->et;
    d->r.timestamp_ms = rv->timestamp_ms;
    d->r.headers = d->hs;
    d->r.n_headers = rv->n_headers;
    d->r.value = rv->value;
    d->r.value_len = rv->value_len;
}

static void record_free(decoded_record *d) {
    for (uint16_t i = 0; i < d->r.n_headers; i++) free(d->names[i]);
    free(d->names);
    free(d->hs);
    free(d->topic);
    free(d->et);
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
        decoded_record d;
        record_of_view(&d, &rv);
        memcpy(d.r.event_id, rv.event_id, 16);
        sluice_batch_add(out, &d.r);
        record_free(&d);
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
            decoded_record d;
            record_of_view(&d, &rv);
            uint64_t before = sluice_unacked_records(c);
            int rc = sluice_publish_record(c, &d.r);
            int got = rc == SLUICE_OK ? 0 : sluice_errcode(c);
            CHECK(got == want, "%s record: local validation gave %d (%s), the vector says %d", v->name, got,
                  sluice_errstr(c), want);
            CHECK(sluice_unacked_records(c) == before + (rc == SLUICE_OK), "%s: a refused record must not be taken",
                  v->name);
            checked++;
            record_free(&d);
        }
        free(plain);
    }
    CHECK(checked >= 30, "only %d records checked", checked);
    sluice_close(c);
}

void vector_payload_tests(void) {
    h_run("vectors: PUBLISH payload decoding and zstd rules", test_c2s_publish_decoding);
    h_run("vectors: local validation matches per-record codes", test_local_validation_matches_vectors);
}
