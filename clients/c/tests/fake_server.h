/* A fake Sluice gateway for client tests: one thread, a Unix socket in a
 * fresh /tmp directory, protocol v1 from PROTOCOL.md, and scripted misbehaviour. */
#ifndef SLUICE_FAKE_SERVER_H
#define SLUICE_FAKE_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef enum fs_mode {
    FS_NORMAL,           /* ACK every PUBLISH as the ack level asks; answer PING and STATS */
    FS_DROP_PUBLISH,     /* read a PUBLISH, then close the connection without answering */
    FS_GARBAGE,          /* answer any request with bytes that are not a frame */
    FS_TRUNCATED_ACK,    /* answer a PUBLISH with an ACK whose failures run past its payload */
    FS_CLOSE_MID_FRAME,  /* send the first 10 bytes of an ACK, then close */
    FS_ACK_BAD_INDEX,    /* ACK with a failure index >= record count */
    FS_ACK_UNKNOWN_ID,   /* ACK for a request id never sent */
    FS_HUGE_FRAME,       /* a header announcing a 4 GiB payload */
    FS_OVERLOADED,       /* ERROR OVERLOADED (retriable) for a PUBLISH */
    FS_MALFORMED,        /* ERROR MALFORMED_PAYLOAD (not retriable) for a PUBLISH */
    FS_SHUTTING_DOWN,    /* ERROR SHUTTING_DOWN (closing, retriable) for a PUBLISH, then close */
    FS_NO_ACK,           /* read PUBLISH frames, never answer them */
    FS_SILENT_HELLO,     /* never answer HELLO */
    FS_HELLO_ERROR,      /* answer HELLO with ERROR UNSUPPORTED_VERSION, closing */
    FS_ACKS_THEN_CLOSE   /* connection 1: read bad_count PUBLISH frames unanswered, wait for fs_release(),
                            then ACK them all (and send SHUTTING_DOWN if say_shutting_down) and close */
} fs_mode;

typedef struct fs_config {
    fs_mode mode;
    /* How many PUBLISH frames get the misbehaviour before the server behaves
     * (FS_NORMAL) again; 0 = all of them. For FS_SILENT_HELLO/FS_HELLO_ERROR:
     * how many connections. */
    int bad_count;
    /* Limits announced in HELLO_OK; 0 fields take the protocol defaults. */
    uint32_t max_frame_bytes, max_decompressed_bytes, max_records, max_record_bytes;
    uint16_t max_key_bytes, max_headers;
    uint32_t max_header_bytes;
    uint32_t max_unacked_bytes;
    /* Records with this key are rejected with REJECTED_BY_BROKER (31) in the ACK. */
    const char *reject_key;
    /* Sleep this long before each ACK (slow server, for backpressure). */
    int ack_delay_ms;
    /* Socket path to use (NULL: a fresh one under /tmp). */
    const char *path;
    /* FS_ACKS_THEN_CLOSE: an ERROR SHUTTING_DOWN (closing, id 0) follows the ACKs, as from a gateway
     * stopping on SIGTERM. */
    int say_shutting_down;
} fs_config;

/* One record the server decoded. */
typedef struct fs_record {
    uint8_t event_id[16];
    char key[64];
    char value[64];
    int64_t timestamp_ms;
    int conn;      /* connection number, from 1 */
    int frame;     /* PUBLISH frame number, from 1 */
    uint32_t request_id;
    int n_headers;
} fs_record;

typedef struct fake_server fake_server;

fake_server *fs_start(const fs_config *cfg);
const char *fs_path(const fake_server *s);
void fs_stop(fake_server *s); /* joins the thread, removes the socket and directory */

/* Observations (thread-safe snapshots). */
int fs_connections(fake_server *s);
int fs_publish_frames(fake_server *s);
int fs_compressed_frames(fake_server *s);
int fs_max_records_in_frame(fake_server *s);
int fs_violations(fake_server *s); /* protocol errors the client made; details printed */
size_t fs_records(fake_server *s, fs_record *out, size_t max);
int fs_last_ack_level(fake_server *s);
int fs_closed_connections(fake_server *s); /* connections the server has closed */

/* FS_ACKS_THEN_CLOSE: lets the server answer the frames it holds. */
void fs_release(fake_server *s);

#endif
