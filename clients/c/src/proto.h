/* Wire protocol v1 constants and big-endian helpers (PROTOCOL.md sections 1-6). Internal. */
#ifndef SLUICE_PROTO_H
#define SLUICE_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Frame header:
 *
 *   0      2   3    4       6          8            12             16
 *   +------+---+----+-------+----------+------------+--------------+------------
 *   | "SL" | v |type| flags | reserved | request id | payload len  | payload ...
 *   +------+---+----+-------+----------+------------+--------------+------------
 */
#define SLUICE_HDR_LEN 16
#define SLUICE_MAGIC0 0x53
#define SLUICE_MAGIC1 0x4C
#define SLUICE_V1 1

enum {
    SLUICE_T_HELLO = 0x01,
    SLUICE_T_HELLO_OK = 0x02,
    SLUICE_T_PUBLISH = 0x03,
    SLUICE_T_ACK = 0x04,
    SLUICE_T_ERROR = 0x05,
    SLUICE_T_STATS = 0x06,
    SLUICE_T_STATS_REPLY = 0x07,
    SLUICE_T_PING = 0x08,
    SLUICE_T_PONG = 0x09
};

#define SLUICE_FLAG_COMPRESSED 0x0001u

/* ERROR frame flags. */
#define SLUICE_ERRF_CLOSING 0x01u
#define SLUICE_ERRF_RETRIABLE 0x02u

/* PUBLISH payload preamble: ack level, reserved, record count. */
#define SLUICE_PUBLISH_PREAMBLE 6
/* Fixed part of one encoded record: 3 str16 lengths, event id, timestamp,
 * header count, value length. */
#define SLUICE_RECORD_FIXED (2 + 2 + 2 + 16 + 8 + 2 + 4)
/* Per-header overhead: str16 name length + bytes32 value length. */
#define SLUICE_HEADER_FIXED (2 + 4)

/* Fixed part of a HELLO_OK payload before the server name's length. */
#define SLUICE_HELLO_OK_FIXED 26

/* The C client's own limit on server frames (section 6). */
#ifndef SLUICE_MAX_SERVER_PAYLOAD
#define SLUICE_MAX_SERVER_PAYLOAD (16u * 1024u * 1024u)
#endif
#define SLUICE_MAX_PING 256
#define SLUICE_MAX_HELLO 1024

/* Default limits, in force until a HELLO_OK announces the server's. */
#define SLUICE_DEF_MAX_FRAME_BYTES 1048576u
#define SLUICE_DEF_MAX_DECOMPRESSED 4194304u
#define SLUICE_DEF_MAX_RECORDS 10000u
#define SLUICE_DEF_MAX_RECORD_BYTES 1000000u
#define SLUICE_DEF_MAX_KEY_BYTES 1024u
#define SLUICE_DEF_MAX_HEADERS 64u
#define SLUICE_DEF_MAX_HEADER_BYTES 65536u
/* The largest zstd window a frame may declare unless max decompressed bytes is larger (section 2.2). */
#define SLUICE_MAX_WINDOW_BYTES (8ULL << 20)

static inline void sluice_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void sluice_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void sluice_put64(uint8_t *p, uint64_t v) {
    sluice_put32(p, (uint32_t)(v >> 32));
    sluice_put32(p + 4, (uint32_t)v);
}
static inline uint16_t sluice_get16(const uint8_t *p) {
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}
static inline uint32_t sluice_get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t sluice_get64(const uint8_t *p) {
    return ((uint64_t)sluice_get32(p) << 32) | sluice_get32(p + 4);
}

#endif
