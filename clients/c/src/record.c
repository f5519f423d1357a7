/* What the client does to a record before it joins a batch: the checks the gateway
 * would make (PROTOCOL.md section 3.2, in its order), and random event ids. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* getrandom */
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "client.h"
#include "utf8.h"

/* Reads n bytes of the kernel's randomness: getrandom(), else /dev/urandom. 0 or -1. */
static int system_random(void *out, size_t n) {
    uint8_t *p = out;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r >= 0) {
            got += (size_t)r;
            continue;
        }
        if (errno == EINTR) continue;
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        while (got < n) {
            ssize_t k = read(fd, p + got, n - got);
            if (k <= 0) {
                if (k < 0 && errno == EINTR) continue;
                close(fd);
                return -1;
            }
            got += (size_t)k;
        }
        close(fd);
    }
    return 0;
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The next output of xoshiro256** (the generator the gateway uses for the ids it assigns). */
static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Fills a 16-byte random event id. The generator is seeded once per client with 256 bits
 * from the kernel: a getrandom() per id cost the client more than encoding the record. */
int sluice_random_event_id(sluice_client *c, uint8_t out[16]) {
    if (!c->rng_seeded) {
        if (system_random(c->rng, sizeof(c->rng)) < 0) return -1;
        c->rng[3] |= 1; /* never the all-zero state */
        c->rng_seeded = 1;
    }
    uint64_t hi = rng_next(c->rng), lo = rng_next(c->rng);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(hi >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    return 0;
}

/* Whether `name` is reserved for headers the gateway stamps: "event-id", "event-type" or
 * "sluice-*", ignoring ASCII case (PROTOCOL.md section 3.2). */
static int header_name_reserved(const char *name) {
    static const char *const exact[] = {"event-id", "event-type"};
    static const char prefix[] = "sluice-";
    char lowered[16];
    size_t n = 0;
    for (; name[n] != '\0' && n < sizeof(lowered) - 1; n++) {
        char ch = name[n];
        lowered[n] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    lowered[n] = '\0';
    if (n >= sizeof(prefix) - 1 && memcmp(lowered, prefix, sizeof(prefix) - 1) == 0) return 1;
    if (name[n] != '\0') return 0;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (strcmp(lowered, exact[i]) == 0) return 1;
    }
    return 0;
}

/* Local validation against the protocol's rules and the server's limits.
 * 0, or -1 with the error set to the protocol code. */
int sluice_validate_record(sluice_client *c, const sluice_record *r) {
    int code = sluice_record_check_lengths(r);
    if (code == SLUICE_E_INVALID_ARGUMENT) {
        sluice_set_err(c, code, 0, "record has a NULL pointer with a non-zero length (or a NULL topic/header name)");
        return -1;
    }
    if (code) {
        sluice_set_err(c, code, 0, "record field too long for the wire format (%s)", sluice_error_name(code));
        return -1;
    }
    size_t tlen = strlen(r->topic);
    if (!sluice_topic_valid(r->topic, tlen)) {
        sluice_set_err(c, SLUICE_E_INVALID_TOPIC, 0,
                       "invalid topic \"%.64s\": must be 1-249 of [a-zA-Z0-9._-] and not \".\" or \"..\"", r->topic);
        return -1;
    }
    if (r->key_len == 0 || r->key_len > c->limits.max_key_bytes) {
        sluice_set_err(c, SLUICE_E_INVALID_KEY, 0, "invalid key of %zu bytes: must be 1-%u bytes", r->key_len,
                       c->limits.max_key_bytes);
        return -1;
    }
    if (!sluice_utf8_valid(r->key, r->key_len)) {
        sluice_set_err(c, SLUICE_E_INVALID_KEY, 0, "the key is not valid UTF-8");
        return -1;
    }
    if (r->event_type != NULL && !sluice_utf8_valid(r->event_type, strlen(r->event_type))) {
        sluice_set_err(c, SLUICE_E_INVALID_EVENT_TYPE, 0, "the event type is not valid UTF-8");
        return -1;
    }
    if (r->timestamp_ms < 0) {
        sluice_set_err(c, SLUICE_E_INVALID_TIMESTAMP, 0, "timestamp %lld is negative", (long long)r->timestamp_ms);
        return -1;
    }
    if (r->n_headers > c->limits.max_headers) {
        sluice_set_err(c, SLUICE_E_INVALID_HEADERS, 0, "%zu headers, the server allows %u", r->n_headers,
                       c->limits.max_headers);
        return -1;
    }
    uint64_t hbytes = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name[0] == '\0') {
            sluice_set_err(c, SLUICE_E_INVALID_HEADERS, 0, "header %zu has an empty name", i);
            return -1;
        }
        if (!sluice_utf8_valid(r->headers[i].name, strlen(r->headers[i].name))) {
            sluice_set_err(c, SLUICE_E_INVALID_HEADERS, 0, "header %zu: the name is not valid UTF-8", i);
            return -1;
        }
        if (header_name_reserved(r->headers[i].name)) {
            sluice_set_err(c, SLUICE_E_INVALID_HEADERS, 0, "header %zu: \"%.32s\" is reserved for the gateway", i,
                           r->headers[i].name);
            return -1;
        }
        hbytes += strlen(r->headers[i].name) + (uint64_t)r->headers[i].value_len;
    }
    if (hbytes > c->limits.max_header_bytes) {
        sluice_set_err(c, SLUICE_E_INVALID_HEADERS, 0, "headers take %llu bytes, the server allows %u",
                       (unsigned long long)hbytes, c->limits.max_header_bytes);
        return -1;
    }
    uint64_t content = sluice_record_content_size(r);
    if (content > c->limits.max_record_bytes) {
        sluice_set_err(c, SLUICE_E_RECORD_TOO_LARGE, 0, "record of %llu bytes, the server allows %u",
                       (unsigned long long)content, c->limits.max_record_bytes);
        return -1;
    }
    size_t enc = sluice_record_encoded_size(r);
    if (SLUICE_PUBLISH_PREAMBLE + enc > c->hard_max_batch_bytes) {
        sluice_set_err(c, SLUICE_E_RECORD_TOO_LARGE, 0, "record encodes to %zu bytes, a frame holds at most %zu", enc,
                       c->hard_max_batch_bytes - SLUICE_PUBLISH_PREAMBLE);
        return -1;
    }
    return 0;
}
