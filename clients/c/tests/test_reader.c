/* Reader robustness: truncation, mutation fuzzing, hostile lengths, stickiness. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "proto.h"
#include "reader.h"
#include "sluice.h"

static t_vector *V;
static size_t NV;

typedef struct {
    int msgs, err;
    size_t pending;
} outcome;

static outcome feed(const uint8_t *p, size_t n, size_t chunk) {
    outcome o = {0, 0, 0};
    sluice_reader *r = sluice_reader_create(0);
    for (size_t off = 0; off < n && !o.err;) {
        size_t k = n - off < chunk ? n - off : chunk;
        sluice_reader_feed(r, p + off, k);
        off += k;
        sluice_msg m;
        int rc;
        while ((rc = sluice_reader_next(r, &m)) == 1) {
            o.msgs++;
            /* Touch every byte the message points at: ASan catches any overreach. */
            volatile uint8_t sink = 0;
            for (uint32_t i = 0; i < m.payload_len; i++) sink ^= m.payload[i];
            (void)sink;
        }
        if (rc < 0) o.err = sluice_reader_error(r);
    }
    o.pending = sluice_reader_pending(r);
    sluice_reader_free(r);
    return o;
}

static void frame(uint8_t *out, uint8_t type, uint16_t flags, uint32_t id, uint32_t len) {
    out[0] = 'S';
    out[1] = 'L';
    out[2] = 1;
    out[3] = type;
    sluice_put16(out + 4, flags);
    sluice_put16(out + 6, 0);
    sluice_put32(out + 8, id);
    sluice_put32(out + 12, len);
}

static void test_prefixes_are_incomplete(void) {
    int n = 0;
    for (size_t i = 0; i < NV; i++) {
        const t_vector *v = &V[i];
        if (strcmp(v->direction, "s2c") || strcmp(v->expect, "ok")) continue;
        for (size_t len = 0; len < v->frame_len; len++) {
            outcome o = feed(v->frame, len, 1);
            CHECK(o.msgs == 0 && o.err == 0 && o.pending == len, "%s prefix %zu: msgs %d err %d", v->name, len,
                  o.msgs, o.err);
            n++;
        }
    }
    CHECK(n > 100, "only %d prefixes", n);
}

static void test_mutation_fuzz(void) {
    uint64_t seed = 0x5eed;
    int runs = 0;
    for (size_t i = 0; i < NV; i++) {
        const t_vector *v = &V[i];
        if (strcmp(v->direction, "s2c")) continue;
        uint8_t *buf = malloc(v->frame_len + 64);
        for (int k = 0; k < 1500; k++) {
            size_t n = v->frame_len;
            memcpy(buf, v->frame, n);
            int edits = 1 + (int)(t_rand(&seed) % 4);
            for (int e = 0; e < edits; e++) {
                uint32_t what = t_rand(&seed) % 4, pos = t_rand(&seed) % (uint32_t)n;
                if (what == 0) buf[pos] ^= (uint8_t)(1u << (t_rand(&seed) % 8));
                else if (what == 1) buf[pos] = (uint8_t)t_rand(&seed);
                else if (what == 2 && n > 1) n = 1 + t_rand(&seed) % (uint32_t)n; /* truncate */
                else if (n + 8 < v->frame_len + 64) {                          /* extend */
                    for (int x = 0; x < 8; x++) buf[n++] = (uint8_t)t_rand(&seed);
                }
            }
            /* Past the header, keep the length field believable half the time so
             * the payload parsers (not just the header checks) get exercised. */
            if (n >= 16 && (t_rand(&seed) & 1)) sluice_put32(buf + 12, (uint32_t)(n - 16));
            outcome whole = feed(buf, n, n ? n : 1), bytes = feed(buf, n, 1), odd = feed(buf, n, 7);
            CHECK(whole.msgs == bytes.msgs && whole.err == bytes.err && whole.msgs == odd.msgs &&
                      whole.err == odd.err,
                  "%s mutation %d: splits disagree (%d/%d vs %d/%d)", v->name, k, whole.msgs, whole.err, bytes.msgs,
                  bytes.err);
            runs++;
        }
        free(buf);
    }
    CHECK(runs > 1000, "only %d runs", runs);
}

static void test_random_garbage(void) {
    uint64_t seed = 42;
    uint8_t buf[512];
    for (int k = 0; k < 3000; k++) {
        size_t n = t_rand(&seed) % sizeof(buf);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)t_rand(&seed);
        if (n >= 2 && (k & 1)) { /* often start like a frame, to get past the magic */
            buf[0] = 'S';
            buf[1] = 'L';
            if (n >= 3) buf[2] = 1;
            if (n >= 8) buf[4] = buf[5] = buf[6] = buf[7] = 0;
            if (n >= 16 && (k & 2)) sluice_put32(buf + 12, (uint32_t)(n - 16));
        }
        outcome o = feed(buf, n, 1 + t_rand(&seed) % 32);
        CHECK(o.err >= 0, "garbage run %d", k);
    }
}

static void test_hostile_headers(void) {
    uint8_t f[64];
    memset(f, 0, sizeof(f));
    /* Over the 16 MiB client limit: refused from the header alone. */
    frame(f, SLUICE_T_STATS_REPLY, 0, 1, SLUICE_MAX_SERVER_PAYLOAD + 1);
    outcome o = feed(f, 16, 16);
    CHECK(o.err == SLUICE_E_FRAME_TOO_LARGE, "16 MiB + 1: err %d", o.err);
    frame(f, SLUICE_T_STATS_REPLY, 0, 1, SLUICE_MAX_SERVER_PAYLOAD);
    o = feed(f, 16, 16);
    CHECK(o.err == 0 && o.msgs == 0, "exactly 16 MiB is allowed (waits for the payload): err %d", o.err);
    /* A reader with a smaller limit. */
    sluice_reader *r = sluice_reader_create(100);
    frame(f, SLUICE_T_PONG, 0, 1, 101);
    sluice_reader_feed(r, f, 16);
    sluice_msg m;
    CHECK(sluice_reader_next(r, &m) < 0 && sluice_reader_error(r) == SLUICE_E_FRAME_TOO_LARGE, "custom limit");
    sluice_reader_free(r);

    struct {
        uint8_t type;
        uint16_t flags;
        int version, reserved, want;
    } cases[] = {
        {SLUICE_T_ACK, 0, 2, 0, SLUICE_E_UNSUPPORTED_VERSION},
        {SLUICE_T_ACK, 0, 0, 0, SLUICE_E_UNSUPPORTED_VERSION},
        {SLUICE_T_ACK, SLUICE_FLAG_COMPRESSED, 1, 0, SLUICE_E_RESERVED_BITS},
        {SLUICE_T_ACK, 0x8000, 1, 0, SLUICE_E_RESERVED_BITS},
        {SLUICE_T_ACK, 0, 1, 1, SLUICE_E_RESERVED_BITS},
        {SLUICE_T_HELLO, 0, 1, 0, SLUICE_E_PROTOCOL_STATE},
        {SLUICE_T_PUBLISH, 0, 1, 0, SLUICE_E_PROTOCOL_STATE},
        {SLUICE_T_STATS, 0, 1, 0, SLUICE_E_PROTOCOL_STATE},
        {SLUICE_T_PING, 0, 1, 0, SLUICE_E_PROTOCOL_STATE},
        {0x00, 0, 1, 0, SLUICE_E_UNKNOWN_TYPE},
        {0x7f, 0, 1, 0, SLUICE_E_UNKNOWN_TYPE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        frame(f, cases[i].type, cases[i].flags, 1, 0);
        f[2] = (uint8_t)cases[i].version;
        sluice_put16(f + 6, (uint16_t)cases[i].reserved);
        o = feed(f, 16, 16);
        CHECK(o.err == cases[i].want, "case %zu: err %d, want %d", i, o.err, cases[i].want);
    }
}

static void test_hostile_payloads(void) {
    uint8_t f[600];
    memset(f, 0, sizeof(f));
    outcome o;
    /* ACK whose failed count would overflow a 32-bit size computation. */
    frame(f, SLUICE_T_ACK, 0, 9, 14);
    sluice_put32(f + 16, 0xffffffffu);
    sluice_put32(f + 20, 0xffffffffu);
    o = feed(f, 30, 30);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "huge failed count: err %d", o.err);
    /* ACK with failures out of order / duplicated. */
    frame(f, SLUICE_T_ACK, 0, 9, 8 + 12);
    sluice_put32(f + 16, 5);
    sluice_put32(f + 20, 2);
    sluice_put32(f + 24, 3);
    sluice_put32(f + 30, 3);
    o = feed(f, 36, 36);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "duplicate index: err %d", o.err);
    sluice_put32(f + 30, 1);
    o = feed(f, 36, 36);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "descending index: err %d", o.err);
    sluice_put32(f + 30, 4);
    o = feed(f, 36, 36);
    CHECK(o.err == 0 && o.msgs == 1, "ascending index accepted: err %d", o.err);
    /* ACK shorter than its fixed part; with trailing bytes. */
    frame(f, SLUICE_T_ACK, 0, 9, 7);
    o = feed(f, 23, 23);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "short ACK: err %d", o.err);
    frame(f, SLUICE_T_ACK, 0, 9, 9);
    memset(f + 16, 0, 9);
    o = feed(f, 25, 25);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "ACK with a trailing byte: err %d", o.err);
    /* PONG over 256 bytes. */
    frame(f, SLUICE_T_PONG, 0, 1, 257);
    o = feed(f, 16 + 257, 64);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "long PONG: err %d", o.err);
    /* ERROR with reserved flag bits / reserved byte / short / trailing bytes. */
    frame(f, SLUICE_T_ERROR, 0, 1, 6);
    memset(f + 16, 0, 6);
    f[18] = 0x04;
    o = feed(f, 22, 22);
    CHECK(o.err == SLUICE_E_RESERVED_BITS, "ERROR flag bit 2: err %d", o.err);
    f[18] = 0;
    f[19] = 1;
    o = feed(f, 22, 22);
    CHECK(o.err == SLUICE_E_RESERVED_BITS, "ERROR reserved byte: err %d", o.err);
    f[19] = 0;
    o = feed(f, 22, 22);
    CHECK(o.err == 0 && o.msgs == 1, "ERROR with an empty message: err %d", o.err);
    frame(f, SLUICE_T_ERROR, 0, 1, 5);
    o = feed(f, 21, 21);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "short ERROR: err %d", o.err);
    frame(f, SLUICE_T_ERROR, 0, 1, 8);
    memset(f + 16, 0, 8);
    sluice_put16(f + 20, 1);
    o = feed(f, 24, 24);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "ERROR with a trailing byte: err %d", o.err);
    /* HELLO_OK: shorter than fixed part; name running past the end. */
    frame(f, SLUICE_T_HELLO_OK, 0, 1, 27);
    memset(f + 16, 0, 27);
    o = feed(f, 43, 43);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "short HELLO_OK: err %d", o.err);
    frame(f, SLUICE_T_HELLO_OK, 0, 1, 28);
    memset(f + 16, 0, 28);
    sluice_put16(f + 16 + 26, 1);
    o = feed(f, 44, 44);
    CHECK(o.err == SLUICE_E_MALFORMED_PAYLOAD, "HELLO_OK name past the end: err %d", o.err);
}

static void test_error_is_sticky_until_reset(void) {
    const t_vector *bad = t_find_vector(V, NV, "s2c_bad_magic"), *good = t_find_vector(V, NV, "pong_hi");
    REQUIRE(bad && good, "vectors s2c_bad_magic and pong_hi needed");
    sluice_reader *r = sluice_reader_create(0);
    sluice_msg m;
    sluice_reader_feed(r, bad->frame, bad->frame_len);
    CHECK(sluice_reader_next(r, &m) < 0, "bad magic");
    sluice_reader_feed(r, good->frame, good->frame_len);
    CHECK(sluice_reader_next(r, &m) < 0 && sluice_reader_error(r) == SLUICE_E_BAD_MAGIC, "error must stick");
    CHECK(strlen(sluice_reader_errstr(r)) > 0, "error message");
    sluice_reader_reset(r);
    sluice_reader_feed(r, good->frame, good->frame_len);
    CHECK(sluice_reader_next(r, &m) == 1 && m.type == SLUICE_T_PONG, "after reset");
    CHECK(sluice_reader_next(r, &m) == 0, "then empty");
    sluice_reader_free(r);
}

static void test_error_names(void) {
    CHECK(strcmp(sluice_error_name(SLUICE_E_BAD_MAGIC), "BAD_MAGIC") == 0, "1");
    CHECK(strcmp(sluice_error_name(SLUICE_E_INTERNAL), "INTERNAL") == 0, "42");
    CHECK(strcmp(sluice_error_name(SLUICE_E_INVALID_HEADERS), "INVALID_HEADERS") == 0, "23");
    CHECK(strcmp(sluice_error_name(SLUICE_E_TIMEOUT), "TIMEOUT") == 0, "101");
    CHECK(strcmp(sluice_error_name(12345), "UNKNOWN") == 0, "unknown");
    CHECK(SLUICE_E_INTERNAL == 42 && SLUICE_E_IO == 100 && SLUICE_E_CLOSED == 105, "numbering");
    CHECK(strcmp(sluice_version(), "0.1.0") == 0, "version %s", sluice_version());
}

static const char *path;
static void load(void) {
    REQUIRE(t_load_vectors(path, &V, &NV) == 0, "cannot load %s", path);
}

/* Every code of PROTOCOL.md's section 5 table has its name here: a code the spec gains
 * shows up as UNKNOWN until sluice.h and errors.c know it. */
static void test_error_names_match_the_spec(void) {
    char spec[512];
    const char *cut = strstr(path, "vectors/frames.tsv");
    REQUIRE(cut != NULL, "vectors path %s", path);
    snprintf(spec, sizeof(spec), "%.*sPROTOCOL.md", (int)(cut - path), path);
    FILE *f = fopen(spec, "r");
    REQUIRE(f != NULL, "cannot open %s", spec);
    char line[1024];
    int in_table = 0, rows = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "## 5.", 5) == 0) in_table = 1;
        else if (strncmp(line, "## ", 3) == 0) in_table = 0;
        int code;
        char name[64];
        if (in_table && sscanf(line, "| %d | `%63[A-Z_]`", &code, name) == 2) {
            CHECK(strcmp(sluice_error_name(code), name) == 0, "code %d is %s in the spec, %s here", code, name,
                  sluice_error_name(code));
            rows++;
        }
    }
    fclose(f);
    CHECK(rows >= 28, "only %d codes found in section 5 of %s", rows, spec);
    CHECK(SLUICE_E_CONTRACT_VIOLATION == 27 && SLUICE_E_UNKNOWN_TOPIC == 28, "the contract codes");
}

void reader_tests(const char *vectors_path) {
    path = vectors_path;
    h_run("reader: load vectors", load);
    if (V) {
        h_run("reader: every prefix of a valid frame is incomplete", test_prefixes_are_incomplete);
        h_run("reader: mutated vectors, any split, same outcome", test_mutation_fuzz);
        h_run("reader: error sticks until reset", test_error_is_sticky_until_reset);
    }
    h_run("reader: random garbage never crashes", test_random_garbage);
    h_run("reader: hostile headers", test_hostile_headers);
    h_run("reader: hostile payload lengths", test_hostile_payloads);
    h_run("error names and version", test_error_names);
    h_run("error names: every code of PROTOCOL.md section 5", test_error_names_match_the_spec);
    t_free_vectors(V, NV);
    V = NULL;
    NV = 0;
}
