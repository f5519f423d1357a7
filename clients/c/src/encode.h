/* Frame encoding (HELLO, PING, STATS, PUBLISH batches), zstd compression with
 * the content size declared, and a bounds-checked PUBLISH payload decoder
 * (used to report failed records, and by tests). Internal; no I/O. */
#ifndef SLUICE_ENCODE_H
#define SLUICE_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

/* A growable byte buffer. Zero-initialise before use. */
typedef struct sluice_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} sluice_buf;

int sluice_buf_reserve(sluice_buf *b, size_t extra); /* 0 or -1 (out of memory / overflow) */
int sluice_buf_append(sluice_buf *b, const void *data, size_t len);
void sluice_buf_free(sluice_buf *b);

/* Writes a 16-byte frame header. */
void sluice_frame_header(uint8_t out[16], uint8_t type, uint16_t flags, uint32_t request_id, uint32_t payload_len);
/* Sets the request id of an encoded frame. */
void sluice_frame_set_request_id(uint8_t *frame, uint32_t request_id);

/* Append a whole frame to b. 0 or -1 (out of memory / argument too long). */
int sluice_encode_hello(sluice_buf *b, uint32_t request_id, uint16_t min_version, uint16_t max_version,
                        const char *client_name, size_t name_len);
int sluice_encode_ping(sluice_buf *b, uint32_t request_id, const void *data, size_t len);
int sluice_encode_stats(sluice_buf *b, uint32_t request_id);

/* Bytes one record takes in a PUBLISH payload. The record must have passed
 * sluice_record_check_lengths(). */
size_t sluice_record_encoded_size(const sluice_record *r);
/* Record content size as the protocol's max record bytes counts it: topic +
 * key + event type + header names and values + value. */
uint64_t sluice_record_content_size(const sluice_record *r);
/* Checks the lengths the wire format can carry (str16/bytes32) and NULL
 * pointers. 0 when encodable, else a SLUICE_E_* code. */
int sluice_record_check_lengths(const sluice_record *r);

/* Batch building. The buffer holds one PUBLISH frame under construction:
 * header (16) + preamble (6) + records. */
int sluice_batch_begin(sluice_buf *b, uint8_t ack_level);
int sluice_batch_add(sluice_buf *b, const sluice_record *r); /* appends the record as given */
/* Fills in the record count and the frame header (request id 0). */
void sluice_batch_finish(sluice_buf *b, uint32_t record_count);

/* Compresses the payload of an uncompressed frame into a new COMPRESSED frame
 * (one zstd frame that declares its content size; the declaration is checked).
 * Returns 1 with *out (malloc'd) when the result is smaller than the plain
 * frame, 0 when compression would not help (nothing allocated), -1 on error. */
int sluice_compress_frame(void *zstd_cctx, int level, const uint8_t *frame, size_t frame_len, uint8_t **out,
                          size_t *out_len);

/* Decompresses a COMPRESSED payload following the protocol's rules: exactly
 * one zstd frame, content size declared and <= max_size, content exactly that
 * size. Returns 0 with *out (malloc'd, *out_len bytes) or a SLUICE_E_* code:
 * CONTENT_SIZE_MISSING, DECOMPRESSED_TOO_LARGE, BAD_COMPRESSION, NOMEM. */
int sluice_decompress(const uint8_t *src, size_t len, size_t max_size, uint8_t **out, size_t *out_len);

/* A decoded record; pointers into the payload, strings not NUL-terminated. */
typedef struct sluice_rec_view {
    const uint8_t *topic;
    size_t topic_len;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *event_type;
    size_t event_type_len;
    const uint8_t *event_id; /* 16 bytes */
    int64_t timestamp_ms;
    uint16_t n_headers;
    const uint8_t *headers; /* n_headers x (str16 name, bytes32 value), bounds-checked */
    size_t headers_len;
    const uint8_t *value;
    size_t value_len;
} sluice_rec_view;

typedef struct sluice_payload_cursor {
    const uint8_t *p;
    size_t left;
    uint32_t remaining; /* records not yet returned */
} sluice_payload_cursor;

/* Opens an (uncompressed) PUBLISH payload. 0 or SLUICE_E_MALFORMED_PAYLOAD /
 * SLUICE_E_RESERVED_BITS. */
int sluice_payload_open(const uint8_t *payload, size_t len, uint8_t *ack_level, uint32_t *record_count,
                        sluice_payload_cursor *cur);
/* 1: *rv holds the next record; 0: all records returned and no byte left;
 * -1: structure broken (a length past the end, or trailing bytes). */
int sluice_payload_next(sluice_payload_cursor *cur, sluice_rec_view *rv);
/* The i-th header of a decoded record (i < n_headers). */
void sluice_rec_header(const sluice_rec_view *rv, uint16_t i, const uint8_t **name, size_t *name_len,
                       const uint8_t **value, size_t *value_len);

/* Kafka topic rule: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
int sluice_topic_valid(const char *topic, size_t len);

#endif
