/* Transport-free reader of server frames: feed bytes in, pull parsed messages out.
 *
 * It needs no socket: tests feed it byte strings in any split. Every length it
 * reads is checked against what was received and, for the payload length,
 * against a hard maximum before any byte of the payload is buffered. After an
 * error the stream cannot be trusted and the reader stays in that error until
 * sluice_reader_reset().
 *
 * States (the header is checked as soon as its 16 bytes are in):
 *
 *   waiting for header --16 bytes, header valid--> waiting for payload(len)
 *          ^                                               |
 *          +----------- message returned -----------------+
 */
#ifndef SLUICE_READER_H
#define SLUICE_READER_H

#include <stddef.h>
#include <stdint.h>

/* Limits the server announced in HELLO_OK (PROTOCOL.md section 3.1). */
typedef struct sluice_limits {
    uint16_t version;
    uint32_t max_frame_bytes;
    uint32_t max_decompressed_bytes;
    uint32_t max_records;
    uint32_t max_record_bytes;
    uint16_t max_key_bytes;
    uint16_t max_headers;
    uint32_t max_header_bytes;
    uint32_t max_unacked_bytes; /* 0 when HELLO_OK has no session limits (an early version 1 server) */
} sluice_limits;

/* One parsed server message. Pointers point into the reader's buffer and stay
 * valid until the next sluice_reader_feed(), _reset() or _free(). */
typedef struct sluice_msg {
    uint8_t type;          /* SLUICE_T_* */
    uint32_t request_id;   /* from the header */
    const uint8_t *payload;
    uint32_t payload_len;
    union {
        struct {
            sluice_limits limits;
            const char *server_name; /* not NUL-terminated */
            size_t server_name_len;
        } hello_ok;
        struct {
            uint32_t record_count;
            uint32_t failed_count;
            const uint8_t *failures; /* failed_count x (u32 index, u16 code), validated */
        } ack;
        struct {
            uint16_t code;
            uint8_t flags;           /* SLUICE_ERRF_* */
            const char *message;     /* not NUL-terminated */
            size_t message_len;
        } error;
        struct {
            const uint8_t *data;     /* STATS_REPLY JSON or PONG bytes */
            size_t len;
        } body;
    } u;
} sluice_msg;

typedef struct sluice_reader sluice_reader;

/* Creates a reader that rejects payloads over max_payload bytes (0 = the
 * client's 16 MiB limit). NULL when out of memory. */
sluice_reader *sluice_reader_create(uint32_t max_payload);
void sluice_reader_free(sluice_reader *r);
/* Forgets buffered bytes and any error. */
void sluice_reader_reset(sluice_reader *r);
/* Appends bytes. 0 on success, -1 when out of memory (the reader is then in
 * error SLUICE_E_NOMEM). */
int sluice_reader_feed(sluice_reader *r, const void *data, size_t len);
/* 1: *out holds a message; 0: more bytes are needed; -1: error (see below). */
int sluice_reader_next(sluice_reader *r, sluice_msg *out);
/* Protocol code of the reader's error (SLUICE_E_*; 0 when none) and a message. */
int sluice_reader_error(const sluice_reader *r);
const char *sluice_reader_errstr(const sluice_reader *r);
/* Bytes buffered and not yet returned as a message (non-zero at EOF means the
 * peer closed mid-frame). */
size_t sluice_reader_pending(const sluice_reader *r);

/* The i-th failure of a validated ACK message. */
void sluice_ack_failure(const sluice_msg *m, uint32_t i, uint32_t *index, uint16_t *code);

#endif
