#include "reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "sluice.h"
#include "utf8.h"

struct sluice_reader {
    uint8_t *buf;
    size_t len;  /* bytes in buf */
    size_t pos;  /* start of the first unreturned byte */
    size_t cap;
    uint32_t max_payload;
    int err;
    char errstr[160];
};

sluice_reader *sluice_reader_create(uint32_t max_payload) {
    sluice_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->max_payload = max_payload ? max_payload : SLUICE_MAX_SERVER_PAYLOAD;
    return r;
}

void sluice_reader_free(sluice_reader *r) {
    if (r == NULL) return;
    free(r->buf);
    free(r);
}

void sluice_reader_reset(sluice_reader *r) {
    r->len = r->pos = 0;
    r->err = 0;
    r->errstr[0] = '\0';
    /* Do not keep a huge buffer around after a large frame. */
    if (r->cap > 1024 * 1024) {
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
}

int sluice_reader_error(const sluice_reader *r) { return r->err; }
const char *sluice_reader_errstr(const sluice_reader *r) { return r->errstr; }
size_t sluice_reader_pending(const sluice_reader *r) { return r->len - r->pos; }

#if defined(__GNUC__)
static int fail(sluice_reader *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
static int fail(sluice_reader *r, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof(r->errstr), fmt, ap);
    va_end(ap);
    r->err = code;
    return -1;
}

int sluice_reader_feed(sluice_reader *r, const void *data, size_t len) {
    if (r->err) return r->err == SLUICE_E_NOMEM ? -1 : 0; /* bytes after an error are dropped */
    if (len == 0) return 0;
    if (r->pos > 0) { /* compact: drop returned frames */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (len > SIZE_MAX - r->len) {
        fail(r, SLUICE_E_NOMEM, "reader buffer overflow");
        return -1;
    }
    if (r->len + len > r->cap) {
        size_t ncap = r->cap ? r->cap : 4096;
        while (ncap < r->len + len) {
            if (ncap > SIZE_MAX / 2) {
                ncap = r->len + len;
                break;
            }
            ncap *= 2;
        }
        uint8_t *nb = realloc(r->buf, ncap);
        if (nb == NULL) {
            fail(r, SLUICE_E_NOMEM, "out of memory buffering %zu bytes", r->len + len);
            return -1;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

static const char *type_name(uint8_t t) {
    switch (t) {
    case SLUICE_T_HELLO: return "HELLO";
    case SLUICE_T_HELLO_OK: return "HELLO_OK";
    case SLUICE_T_PUBLISH: return "PUBLISH";
    case SLUICE_T_ACK: return "ACK";
    case SLUICE_T_ERROR: return "ERROR";
    case SLUICE_T_STATS: return "STATS";
    case SLUICE_T_STATS_REPLY: return "STATS_REPLY";
    case SLUICE_T_PING: return "PING";
    case SLUICE_T_PONG: return "PONG";
    default: return "?";
    }
}

static int parse_hello_ok(sluice_reader *r, sluice_msg *m) {
    const uint8_t *p = m->payload;
    size_t n = m->payload_len;
    if (n < SLUICE_HELLO_OK_FIXED + 2)
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "HELLO_OK payload of %zu bytes is shorter than %d", n,
                    SLUICE_HELLO_OK_FIXED + 2);
    sluice_limits *l = &m->u.hello_ok.limits;
    l->version = sluice_get16(p);
    l->max_frame_bytes = sluice_get32(p + 2);
    l->max_decompressed_bytes = sluice_get32(p + 6);
    l->max_records = sluice_get32(p + 10);
    l->max_record_bytes = sluice_get32(p + 14);
    l->max_key_bytes = sluice_get16(p + 18);
    l->max_headers = sluice_get16(p + 20);
    l->max_header_bytes = sluice_get32(p + 22);
    size_t name_len = sluice_get16(p + SLUICE_HELLO_OK_FIXED);
    if (name_len > n - (SLUICE_HELLO_OK_FIXED + 2))
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "HELLO_OK server name of %zu bytes runs past the payload end",
                    name_len);
    if (!sluice_utf8_valid(p + SLUICE_HELLO_OK_FIXED + 2, name_len))
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "HELLO_OK server name is not UTF-8");
    m->u.hello_ok.server_name = (const char *)p + SLUICE_HELLO_OK_FIXED + 2;
    m->u.hello_ok.server_name_len = name_len;
    /* The four session limits come as a group or not at all (PROTOCOL.md section 3.1); bytes
     * after them are later versions' fields: ignored. */
    size_t rest = n - (SLUICE_HELLO_OK_FIXED + 2) - name_len;
    if (rest > 0 && rest < 16)
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "HELLO_OK has %zu of the 16 bytes of session limits", rest);
    l->max_unacked_bytes = rest ? sluice_get32(p + SLUICE_HELLO_OK_FIXED + 2 + name_len) : 0;
    return 1;
}

static int parse_ack(sluice_reader *r, sluice_msg *m) {
    const uint8_t *p = m->payload;
    size_t n = m->payload_len;
    if (n < 8) return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ACK payload of %zu bytes is shorter than 8", n);
    uint32_t count = sluice_get32(p), failed = sluice_get32(p + 4);
    if (count == 0) return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ACK for 0 records (a PUBLISH has at least 1)");
    if (failed > count)
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ACK failed count %u exceeds record count %u", failed, count);
    if ((uint64_t)(n - 8) != (uint64_t)failed * 6)
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ACK with %u failures needs %llu payload bytes, has %zu", failed,
                    (unsigned long long)failed * 6 + 8, n);
    uint64_t prev = 0;
    for (uint32_t i = 0; i < failed; i++) {
        uint32_t idx = sluice_get32(p + 8 + (size_t)i * 6);
        if (idx >= count)
            return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ACK failure index %u out of range (record count %u)", idx,
                        count);
        if (i > 0 && idx <= prev)
            return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ACK failure indexes not ascending (%u after %llu)", idx,
                        (unsigned long long)prev);
        prev = idx;
    }
    m->u.ack.record_count = count;
    m->u.ack.failed_count = failed;
    m->u.ack.failures = p + 8;
    return 1;
}

static int parse_error(sluice_reader *r, sluice_msg *m) {
    const uint8_t *p = m->payload;
    size_t n = m->payload_len;
    if (n < 6) return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ERROR payload of %zu bytes is shorter than 6", n);
    uint8_t flags = p[2];
    if (flags & ~(SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE))
        return fail(r, SLUICE_E_RESERVED_BITS, "ERROR flags 0x%02x have reserved bits set", flags);
    if (p[3] != 0) return fail(r, SLUICE_E_RESERVED_BITS, "ERROR reserved byte is 0x%02x", p[3]);
    size_t mlen = sluice_get16(p + 4);
    if (mlen != n - 6)
        return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ERROR message of %zu bytes does not fill the %zu left", mlen,
                    n - 6);
    if (!sluice_utf8_valid(p + 6, mlen)) return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "ERROR message is not UTF-8");
    m->u.error.code = sluice_get16(p);
    m->u.error.flags = flags;
    m->u.error.message = (const char *)p + 6;
    m->u.error.message_len = mlen;
    return 1;
}

int sluice_reader_next(sluice_reader *r, sluice_msg *m) {
    if (r->err) return -1;
    size_t avail = r->len - r->pos;
    if (avail < SLUICE_HDR_LEN) return 0;
    const uint8_t *h = r->buf + r->pos;

    /* The header is checked before any payload byte is waited for. */
    if (h[0] != SLUICE_MAGIC0 || h[1] != SLUICE_MAGIC1)
        return fail(r, SLUICE_E_BAD_MAGIC, "bad magic 0x%02x%02x", h[0], h[1]);
    if (h[2] != SLUICE_V1) return fail(r, SLUICE_E_UNSUPPORTED_VERSION, "frame version %u, expected 1", h[2]);
    uint16_t flags = sluice_get16(h + 4), reserved = sluice_get16(h + 6);
    if (flags != 0) /* COMPRESSED is for PUBLISH only, which servers never send */
        return fail(r, SLUICE_E_RESERVED_BITS, "server frame flags 0x%04x", flags);
    if (reserved != 0) return fail(r, SLUICE_E_RESERVED_BITS, "reserved header field 0x%04x", reserved);
    uint32_t plen = sluice_get32(h + 12);
    if (plen > r->max_payload)
        return fail(r, SLUICE_E_FRAME_TOO_LARGE, "payload length %u over the client limit %u", plen, r->max_payload);
    uint8_t type = h[3];
    switch (type) {
    case SLUICE_T_HELLO_OK:
    case SLUICE_T_ACK:
    case SLUICE_T_ERROR:
    case SLUICE_T_STATS_REPLY:
    case SLUICE_T_PONG: break;
    case SLUICE_T_HELLO:
    case SLUICE_T_PUBLISH:
    case SLUICE_T_STATS:
    case SLUICE_T_PING:
        return fail(r, SLUICE_E_PROTOCOL_STATE, "server sent client frame type %s", type_name(type));
    default: return fail(r, SLUICE_E_UNKNOWN_TYPE, "unknown frame type 0x%02x", type);
    }
    if (avail - SLUICE_HDR_LEN < plen) return 0;

    memset(m, 0, sizeof(*m));
    m->type = type;
    m->request_id = sluice_get32(h + 8);
    m->payload = h + SLUICE_HDR_LEN;
    m->payload_len = plen;
    r->pos += SLUICE_HDR_LEN + (size_t)plen;

    switch (type) {
    case SLUICE_T_HELLO_OK: return parse_hello_ok(r, m);
    case SLUICE_T_ACK: return parse_ack(r, m);
    case SLUICE_T_ERROR: return parse_error(r, m);
    case SLUICE_T_PONG:
        if (plen > SLUICE_MAX_PING)
            return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "PONG of %u bytes is over %d", plen, SLUICE_MAX_PING);
        /* fall through */
    default: /* STATS_REPLY */
        if (type == SLUICE_T_STATS_REPLY && !sluice_utf8_valid(m->payload, plen))
            return fail(r, SLUICE_E_MALFORMED_PAYLOAD, "STATS_REPLY is not UTF-8");
        m->u.body.data = m->payload;
        m->u.body.len = plen;
        return 1;
    }
}

void sluice_ack_failure(const sluice_msg *m, uint32_t i, uint32_t *index, uint16_t *code) {
    const uint8_t *f = m->u.ack.failures + (size_t)i * 6;
    *index = sluice_get32(f);
    *code = sluice_get16(f + 4);
}
