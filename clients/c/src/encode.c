#include "encode.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "proto.h"

/* ---- buffer ---------------------------------------------------------------- */

int sluice_buf_reserve(sluice_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len) return -1;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    uint8_t *nd = realloc(b->data, ncap);
    if (nd == NULL) return -1;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int sluice_buf_append(sluice_buf *b, const void *data, size_t len) {
    if (sluice_buf_reserve(b, len) < 0) return -1;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void sluice_buf_free(sluice_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Unchecked appenders: callers reserve first. */
static void w8(sluice_buf *b, uint8_t v) { b->data[b->len++] = v; }
static void w16(sluice_buf *b, uint16_t v) {
    sluice_put16(b->data + b->len, v);
    b->len += 2;
}
static void w32(sluice_buf *b, uint32_t v) {
    sluice_put32(b->data + b->len, v);
    b->len += 4;
}
static void w64(sluice_buf *b, uint64_t v) {
    sluice_put64(b->data + b->len, v);
    b->len += 8;
}
static void wbytes(sluice_buf *b, const void *p, size_t n) {
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* ---- frames ---------------------------------------------------------------- */

void sluice_frame_header(uint8_t out[16], uint8_t type, uint16_t flags, uint32_t request_id, uint32_t payload_len) {
    out[0] = SLUICE_MAGIC0;
    out[1] = SLUICE_MAGIC1;
    out[2] = SLUICE_V1;
    out[3] = type;
    sluice_put16(out + 4, flags);
    sluice_put16(out + 6, 0);
    sluice_put32(out + 8, request_id);
    sluice_put32(out + 12, payload_len);
}

void sluice_frame_set_request_id(uint8_t *frame, uint32_t request_id) { sluice_put32(frame + 8, request_id); }

int sluice_encode_hello(sluice_buf *b, uint32_t request_id, uint16_t min_version, uint16_t max_version,
                        const char *client_name, size_t name_len) {
    if (name_len > SLUICE_MAX_HELLO - 6) return -1;
    size_t plen = 6 + name_len;
    if (sluice_buf_reserve(b, SLUICE_HDR_LEN + plen) < 0) return -1;
    sluice_frame_header(b->data + b->len, SLUICE_T_HELLO, 0, request_id, (uint32_t)plen);
    b->len += SLUICE_HDR_LEN;
    w16(b, min_version);
    w16(b, max_version);
    w16(b, (uint16_t)name_len);
    wbytes(b, client_name, name_len);
    return 0;
}

int sluice_encode_ping(sluice_buf *b, uint32_t request_id, const void *data, size_t len) {
    if (len > SLUICE_MAX_PING) return -1;
    if (sluice_buf_reserve(b, SLUICE_HDR_LEN + len) < 0) return -1;
    sluice_frame_header(b->data + b->len, SLUICE_T_PING, 0, request_id, (uint32_t)len);
    b->len += SLUICE_HDR_LEN;
    wbytes(b, data, len);
    return 0;
}

int sluice_encode_stats(sluice_buf *b, uint32_t request_id) {
    if (sluice_buf_reserve(b, SLUICE_HDR_LEN) < 0) return -1;
    sluice_frame_header(b->data + b->len, SLUICE_T_STATS, 0, request_id, 0);
    b->len += SLUICE_HDR_LEN;
    return 0;
}

/* ---- records --------------------------------------------------------------- */

static size_t event_type_len(const sluice_record *r) { return r->event_type ? strlen(r->event_type) : 0; }

int sluice_record_check_lengths(const sluice_record *r) {
    if (r->topic == NULL) return SLUICE_E_INVALID_ARGUMENT;
    if (r->key == NULL && r->key_len > 0) return SLUICE_E_INVALID_ARGUMENT;
    if (r->value == NULL && r->value_len > 0) return SLUICE_E_INVALID_ARGUMENT;
    if (r->headers == NULL && r->n_headers > 0) return SLUICE_E_INVALID_ARGUMENT;
    if (strlen(r->topic) > UINT16_MAX) return SLUICE_E_INVALID_TOPIC;
    if (r->key_len > UINT16_MAX) return SLUICE_E_INVALID_KEY;
    if (event_type_len(r) > UINT16_MAX) return SLUICE_E_INVALID_ARGUMENT;
    if (r->n_headers > UINT16_MAX) return SLUICE_E_INVALID_HEADERS;
    for (size_t i = 0; i < r->n_headers; i++) {
        const sluice_header *h = &r->headers[i];
        if (h->name == NULL) return SLUICE_E_INVALID_ARGUMENT;
        if (h->value == NULL && h->value_len > 0) return SLUICE_E_INVALID_ARGUMENT;
        if (strlen(h->name) > UINT16_MAX || (uint64_t)h->value_len > UINT32_MAX) return SLUICE_E_INVALID_HEADERS;
    }
    if ((uint64_t)r->value_len > UINT32_MAX) return SLUICE_E_RECORD_TOO_LARGE;
    return 0;
}

size_t sluice_record_encoded_size(const sluice_record *r) {
    size_t n = SLUICE_RECORD_FIXED + strlen(r->topic) + r->key_len + event_type_len(r) + r->value_len;
    for (size_t i = 0; i < r->n_headers; i++)
        n += SLUICE_HEADER_FIXED + strlen(r->headers[i].name) + r->headers[i].value_len;
    return n;
}

uint64_t sluice_record_content_size(const sluice_record *r) {
    uint64_t n = (uint64_t)strlen(r->topic) + r->key_len + event_type_len(r) + r->value_len;
    for (size_t i = 0; i < r->n_headers; i++) n += (uint64_t)strlen(r->headers[i].name) + r->headers[i].value_len;
    return n;
}

int sluice_batch_begin(sluice_buf *b, uint8_t ack_level) {
    b->len = 0;
    if (sluice_buf_reserve(b, SLUICE_HDR_LEN + SLUICE_PUBLISH_PREAMBLE) < 0) return -1;
    memset(b->data, 0, SLUICE_HDR_LEN);
    b->len = SLUICE_HDR_LEN;
    w8(b, ack_level);
    w8(b, 0);
    w32(b, 0); /* record count, filled by sluice_batch_finish */
    return 0;
}

int sluice_batch_add(sluice_buf *b, const sluice_record *r) {
    size_t tlen = strlen(r->topic), elen = event_type_len(r);
    if (sluice_buf_reserve(b, sluice_record_encoded_size(r)) < 0) return -1;
    w16(b, (uint16_t)tlen);
    wbytes(b, r->topic, tlen);
    w16(b, (uint16_t)r->key_len);
    wbytes(b, r->key, r->key_len);
    w16(b, (uint16_t)elen);
    wbytes(b, r->event_type, elen);
    wbytes(b, r->event_id, 16);
    w64(b, (uint64_t)r->timestamp_ms);
    w16(b, (uint16_t)r->n_headers);
    for (size_t i = 0; i < r->n_headers; i++) {
        const sluice_header *h = &r->headers[i];
        size_t nlen = strlen(h->name);
        w16(b, (uint16_t)nlen);
        wbytes(b, h->name, nlen);
        w32(b, (uint32_t)h->value_len);
        wbytes(b, h->value, h->value_len);
    }
    w32(b, (uint32_t)r->value_len);
    wbytes(b, r->value, r->value_len);
    return 0;
}

void sluice_batch_finish(sluice_buf *b, uint32_t record_count) {
    sluice_put32(b->data + SLUICE_HDR_LEN + 2, record_count);
    sluice_frame_header(b->data, SLUICE_T_PUBLISH, 0, 0, (uint32_t)(b->len - SLUICE_HDR_LEN));
}

/* ---- zstd ------------------------------------------------------------------ */

int sluice_compress_frame(void *zstd_cctx, int level, const uint8_t *frame, size_t frame_len, uint8_t **out,
                          size_t *out_len) {
    ZSTD_CCtx *cctx = zstd_cctx;
    const uint8_t *src = frame + SLUICE_HDR_LEN;
    size_t slen = frame_len - SLUICE_HDR_LEN;
    size_t bound = ZSTD_compressBound(slen);
    if (ZSTD_isError(bound)) return -1;
    uint8_t *dst = malloc(SLUICE_HDR_LEN + bound);
    if (dst == NULL) return -1;
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0))) {
        free(dst);
        return -1;
    }
    /* ZSTD_compress2 knows the whole input size, so it writes it in the frame header. */
    size_t zlen = ZSTD_compress2(cctx, dst + SLUICE_HDR_LEN, bound, src, slen);
    if (ZSTD_isError(zlen)) {
        free(dst);
        return -1;
    }
    /* The protocol requires the declared content size: check it is there and right. */
    if (ZSTD_getFrameContentSize(dst + SLUICE_HDR_LEN, zlen) != (unsigned long long)slen) {
        free(dst);
        return -1;
    }
    if (zlen >= slen) {
        free(dst);
        return 0;
    }
    memcpy(dst, frame, SLUICE_HDR_LEN);
    sluice_put16(dst + 4, SLUICE_FLAG_COMPRESSED);
    sluice_put32(dst + 12, (uint32_t)zlen);
    uint8_t *shrunk = realloc(dst, SLUICE_HDR_LEN + zlen);
    *out = shrunk ? shrunk : dst;
    *out_len = SLUICE_HDR_LEN + zlen;
    return 1;
}

int sluice_decompress(const uint8_t *src, size_t len, size_t max_size, uint8_t **out, size_t *out_len) {
    static const uint8_t zmagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (len < 4 || memcmp(src, zmagic, 4) != 0) return SLUICE_E_BAD_COMPRESSION;
    unsigned long long size = ZSTD_getFrameContentSize(src, len);
    if (size == ZSTD_CONTENTSIZE_ERROR) return SLUICE_E_BAD_COMPRESSION;
    if (size == ZSTD_CONTENTSIZE_UNKNOWN) return SLUICE_E_CONTENT_SIZE_MISSING;
    if (size > max_size) return SLUICE_E_DECOMPRESSED_TOO_LARGE;
    size_t flen = ZSTD_findFrameCompressedSize(src, len);
    if (ZSTD_isError(flen) || flen != len) return SLUICE_E_BAD_COMPRESSION; /* truncated or trailing bytes */
    if (ZSTD_getDictID_fromFrame(src, len) != 0) return SLUICE_E_BAD_COMPRESSION; /* no dictionaries */
    if ((src[4] & 0x20) == 0) { /* not single-segment: the window is at most 8 MiB or max_size (section 2.2) */
        unsigned long long base = 1ULL << (10 + (src[5] >> 3));
        unsigned long long window = base + base / 8 * (src[5] & 7);
        if (window > (max_size > SLUICE_MAX_WINDOW_BYTES ? max_size : SLUICE_MAX_WINDOW_BYTES))
            return SLUICE_E_BAD_COMPRESSION;
    }
    uint8_t *dst = malloc(size ? (size_t)size : 1);
    if (dst == NULL) return SLUICE_E_NOMEM;
    /* The destination is exactly the declared size: a frame that lies about
     * its size fails instead of growing memory. */
    size_t got = ZSTD_decompress(dst, (size_t)size, src, len);
    if (ZSTD_isError(got) || got != size) {
        free(dst);
        return SLUICE_E_BAD_COMPRESSION;
    }
    *out = dst;
    *out_len = (size_t)size;
    return 0;
}

/* ---- decoding -------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t left;
} rd;

static int r_take(rd *c, size_t n, const uint8_t **out) {
    if (n > c->left) return -1;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}
static int r_u16(rd *c, uint16_t *v) {
    const uint8_t *p;
    if (r_take(c, 2, &p) < 0) return -1;
    *v = sluice_get16(p);
    return 0;
}
static int r_u32(rd *c, uint32_t *v) {
    const uint8_t *p;
    if (r_take(c, 4, &p) < 0) return -1;
    *v = sluice_get32(p);
    return 0;
}
static int r_str16(rd *c, const uint8_t **s, size_t *n) {
    uint16_t l;
    if (r_u16(c, &l) < 0 || r_take(c, l, s) < 0) return -1;
    *n = l;
    return 0;
}
static int r_bytes32(rd *c, const uint8_t **s, size_t *n) {
    uint32_t l;
    if (r_u32(c, &l) < 0 || r_take(c, l, s) < 0) return -1;
    *n = l;
    return 0;
}

int sluice_payload_open(const uint8_t *payload, size_t len, uint8_t *ack_level, uint32_t *record_count,
                        sluice_payload_cursor *cur) {
    /* Fields in wire order, first failure wins (PROTOCOL.md section 3.2). */
    if (len < 1 || payload[0] > SLUICE_ACK_NONE) return SLUICE_E_MALFORMED_PAYLOAD;
    if (len < 2) return SLUICE_E_MALFORMED_PAYLOAD;
    if (payload[1] != 0) return SLUICE_E_RESERVED_BITS;
    if (len < SLUICE_PUBLISH_PREAMBLE) return SLUICE_E_MALFORMED_PAYLOAD;
    uint32_t count = sluice_get32(payload + 2);
    if (count == 0) return SLUICE_E_MALFORMED_PAYLOAD;
    *ack_level = payload[0];
    *record_count = count;
    cur->p = payload + SLUICE_PUBLISH_PREAMBLE;
    cur->left = len - SLUICE_PUBLISH_PREAMBLE;
    cur->remaining = count;
    return 0;
}

int sluice_payload_next(sluice_payload_cursor *cur, sluice_rec_view *rv) {
    if (cur->remaining == 0) return cur->left == 0 ? 0 : -1;
    rd c = {cur->p, cur->left};
    const uint8_t *p;
    uint16_t nh;
    memset(rv, 0, sizeof(*rv));
    if (r_str16(&c, &rv->topic, &rv->topic_len) < 0 || r_str16(&c, &rv->key, &rv->key_len) < 0 ||
        r_str16(&c, &rv->event_type, &rv->event_type_len) < 0 || r_take(&c, 16, &rv->event_id) < 0 ||
        r_take(&c, 8, &p) < 0 || r_u16(&c, &nh) < 0)
        return -1;
    rv->timestamp_ms = (int64_t)sluice_get64(p);
    rv->n_headers = nh;
    rv->headers = c.p;
    for (uint16_t i = 0; i < nh; i++) {
        const uint8_t *s;
        size_t n;
        if (r_str16(&c, &s, &n) < 0 || r_bytes32(&c, &s, &n) < 0) return -1;
    }
    rv->headers_len = (size_t)(c.p - rv->headers);
    if (r_bytes32(&c, &rv->value, &rv->value_len) < 0) return -1;
    cur->p = c.p;
    cur->left = c.left;
    cur->remaining--;
    return 1;
}

void sluice_rec_header(const sluice_rec_view *rv, uint16_t i, const uint8_t **name, size_t *name_len,
                       const uint8_t **value, size_t *value_len) {
    /* The headers were bounds-checked by sluice_payload_next. */
    rd c = {rv->headers, rv->headers_len};
    for (uint16_t k = 0; k <= i; k++) {
        r_str16(&c, name, name_len);
        r_bytes32(&c, value, value_len);
    }
}

int sluice_topic_valid(const char *topic, size_t len) {
    if (len < 1 || len > 249) return 0;
    if ((len == 1 && topic[0] == '.') || (len == 2 && topic[0] == '.' && topic[1] == '.')) return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = topic[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}
