/*
 * libsluice — C client for the Sluice event gateway (wire protocol v1,
 * proto-spec/PROTOCOL.md).
 *
 * A client object talks to one gateway over a Unix stream socket. Every call
 * is blocking and bounded by a timeout. A client object is NOT thread-safe:
 * use one per thread, or serialise every call on it yourself (like hiredis's
 * synchronous API). The library keeps no global state, never changes process
 * signal state (writes use MSG_NOSIGNAL) and never prints anything.
 *
 * Delivery model: sluice_publish() appends a record to an open batch; a full
 * batch is (optionally zstd-compressed and) written whole. The client keeps
 * every batch until the gateway ACKs it. If the connection breaks it first
 * handles the replies still readable on it (so a graceful restart of the
 * gateway duplicates nothing), then reconnects, redoes the handshake and
 * resends every batch still unacknowledged in the original order (records
 * keep their event ids, so consumers can drop the duplicates a crash can
 * leave: delivery is at-least-once). sluice_flush() sends the open batch
 * and waits until everything sent has been acknowledged.
 *
 * Order: batches are written, and resent after a reconnect, in publish order.
 * One exception: a batch the gateway refuses with a retriable ERROR (e.g.
 * OVERLOADED) is resent after a pause, and batches already written after it
 * are not recalled, so its records can land after theirs.
 *
 * Per-record failures reported in an ACK (e.g. DELIVERY_FAILED) are not
 * resent automatically: they go to on_failure (with f->retriable set when the
 * protocol says retrying may help) and make the next sluice_flush() fail.
 *
 * Do not use one client object in both processes after fork(): they would
 * share the connection and the pool of random bytes for event ids.
 *
 * Quick start:
 *
 *     sluice_options o;
 *     sluice_options_init(&o);
 *     sluice_client *c = sluice_connect("/run/sluice.sock", &o);
 *     if (c == NULL) abort();                        // out of memory only
 *     if (sluice_errcode(c)) fprintf(stderr, "%s\n", sluice_errstr(c));
 *     sluice_publish(c, "game.events", "player-42", "{}", 2, NULL, 0);
 *     if (sluice_flush(c, 5000) != SLUICE_OK) fprintf(stderr, "%s\n", sluice_errstr(c));
 *     sluice_close(c);
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Library version; the shared library's soname carries the major version. */
#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0

/* Highest (and lowest) wire protocol version this library speaks. */
#define SLUICE_PROTOCOL_VERSION 1

#if defined(__GNUC__) && !defined(SLUICE_NO_VISIBILITY)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

/* Return values of calls that return int. */
#define SLUICE_OK 0
#define SLUICE_ERR (-1)

/* Ack levels (PROTOCOL.md section 4), chosen per client in sluice_options. */
#define SLUICE_ACK_DURABLE 0  /* acked once every record is in Kafka or the gateway's spool */
#define SLUICE_ACK_ACCEPTED 1 /* acked once every record is validated and queued in memory */
#define SLUICE_ACK_NONE 2     /* never acked; the gateway reports only failures */

/*
 * Error codes. 1..45 are the protocol's numbered codes (PROTOCOL.md section
 * 5): a server ERROR frame's code, a per-record code from an ACK, or the code
 * a record fails local validation with. 100 and up are client-side categories.
 */
typedef enum sluice_error_code {
    SLUICE_E_NONE = 0, /* no error */

    SLUICE_E_BAD_MAGIC = 1,               /* a frame's first two bytes are not "SL" */
    SLUICE_E_UNSUPPORTED_VERSION = 2,     /* no common protocol version / wrong frame version */
    SLUICE_E_RESERVED_BITS = 3,           /* a reserved field or bit is not zero */
    SLUICE_E_FRAME_TOO_LARGE = 4,         /* a frame's payload length is over the limit */
    SLUICE_E_UNKNOWN_TYPE = 5,            /* the frame type is not in the protocol */
    SLUICE_E_PROTOCOL_STATE = 6,          /* a frame the connection's state does not allow */
    SLUICE_E_MALFORMED_PAYLOAD = 7,       /* a payload's structure is broken */
    SLUICE_E_CONTENT_SIZE_MISSING = 8,    /* a zstd frame does not declare its content size */
    SLUICE_E_DECOMPRESSED_TOO_LARGE = 9,  /* declared zstd content size over the limit */
    SLUICE_E_BAD_COMPRESSION = 10,        /* not exactly one valid zstd frame of the declared size */
    SLUICE_E_TOO_MANY_RECORDS = 11,       /* record count over the limit */
    SLUICE_E_INVALID_TOPIC = 20,          /* topic breaks Kafka's naming rule */
    SLUICE_E_INVALID_KEY = 21,            /* key empty or over the server's max key bytes */
    SLUICE_E_RECORD_TOO_LARGE = 22,       /* record over the server's max record bytes */
    SLUICE_E_INVALID_HEADERS = 23,        /* too many headers or header bytes, an empty or reserved name */
    SLUICE_E_TOPIC_NOT_ALLOWED = 24,      /* this peer may not publish to the record's topic */
    SLUICE_E_INVALID_EVENT_TYPE = 25,     /* the event type is not valid UTF-8 */
    SLUICE_E_INVALID_TIMESTAMP = 26,      /* the timestamp is negative */
    SLUICE_E_CONTRACT_VIOLATION = 27,     /* the record breaks its topic's contract (gateway's topics: config) */
    SLUICE_E_UNKNOWN_TOPIC = 28,          /* the gateway takes declared topics only, and this one is not */
    SLUICE_E_DELIVERY_FAILED = 30,        /* Kafka did not acknowledge the record (retriable) */
    SLUICE_E_REJECTED_BY_BROKER = 31,     /* the broker refused the record for good */
    SLUICE_E_OVERLOADED = 40,             /* the gateway cannot take more now (retriable) */
    SLUICE_E_SHUTTING_DOWN = 41,          /* the gateway is stopping (retriable) */
    SLUICE_E_INTERNAL = 42,               /* an unexpected server fault (retriable) */
    SLUICE_E_NOT_PERMITTED = 43,          /* this peer (uid/gid) may not connect */
    SLUICE_E_TIMED_OUT = 44,              /* no HELLO in time, or the connection sat idle (retriable) */
    SLUICE_E_TOO_MANY_CONNECTIONS = 45,   /* the gateway is at its connection limit (retriable) */

    SLUICE_E_IO = 100,               /* a system call failed; sluice_errno() holds errno */
    SLUICE_E_TIMEOUT = 101,          /* the call's timeout expired */
    SLUICE_E_PROTOCOL = 102,         /* the server sent something malformed or unexpected */
    SLUICE_E_NOMEM = 103,            /* out of memory */
    SLUICE_E_INVALID_ARGUMENT = 104, /* a bad argument (NULL pointer, bad option, path too long) */
    SLUICE_E_CLOSED = 105,           /* the server closed the connection and it could not be re-established */
    SLUICE_E_RECORDS_FAILED = 106    /* sluice_flush(): some records were rejected (see on_failure) */
} sluice_error_code;

/* One Kafka header of a record. */
typedef struct sluice_header {
    const char *name;  /* NUL-terminated header name; must not be empty */
    const void *value; /* header value bytes; may be NULL when value_len is 0 */
    size_t value_len;  /* number of bytes at value */
} sluice_header;

/* A record to publish (PROTOCOL.md section 3.2). Strings are borrowed: the
 * library copies everything it needs before sluice_publish_record() returns. */
typedef struct sluice_record {
    const char *topic;             /* NUL-terminated Kafka topic: 1-249 of [a-zA-Z0-9._-], not "." or ".." */
    const void *key;               /* partitioning key bytes (the player id); must not be empty */
    size_t key_len;                /* number of bytes at key: 1 .. server's max key bytes */
    const char *event_type;        /* NUL-terminated event type, published as header "event-type"; NULL = "" */
    uint8_t event_id[16];          /* UUID bytes; all zero = the client assigns a random UUIDv4 */
    int64_t timestamp_ms;          /* milliseconds since the Unix epoch; 0 = the client's clock now */
    const sluice_header *headers;  /* array of n_headers headers; may be NULL when n_headers is 0 */
    size_t n_headers;              /* number of headers */
    const void *value;             /* event body; may be NULL when value_len is 0 */
    size_t value_len;              /* number of bytes at value */
} sluice_record;

/* What on_failure receives for each record the server rejected. Every pointer
 * is valid only during the callback. Under SLUICE_ACK_NONE the client no
 * longer holds the batch when a failure arrives, so topic, key, event_type
 * and value are NULL and event_id is all zero. */
typedef struct sluice_failure {
    const char *topic;       /* NUL-terminated topic of the failed record, or NULL if unknown */
    const char *key;         /* key bytes, NUL-terminated for convenience, or NULL if unknown */
    size_t key_len;          /* number of key bytes (without the terminator) */
    const char *event_type;  /* NUL-terminated event type, or NULL if unknown */
    uint8_t event_id[16];    /* the event id the record was sent with (never all zero unless unknown) */
    int64_t timestamp_ms;    /* the timestamp the record was sent with */
    const void *value;       /* value bytes, or NULL if unknown */
    size_t value_len;        /* number of value bytes */
    uint32_t index;          /* position of the record within its batch */
    int code;                /* protocol error code (SLUICE_E_*) the record failed with */
    const char *error_name;  /* sluice_error_name(code), e.g. "INVALID_KEY" */
    const char *message;     /* server's message when the whole batch was refused by an ERROR, else "" */
    int retriable;           /* 1 when the protocol marks the code retriable: publishing again may succeed */
} sluice_failure;

/* Client options. Always initialise with sluice_options_init() first; fields
 * added in later versions then get their defaults. */
typedef struct sluice_options {
    int ack_level;                 /* SLUICE_ACK_*. Default: SLUICE_ACK_DURABLE. */
    const char *client_name;       /* name sent in HELLO, for the gateway's logs (copied). Default: "libsluice/0.1.0". */
    uint32_t max_batch_records;    /* records per PUBLISH frame; never above the server's limit. Default: 1000. */
    uint32_t max_batch_bytes;      /* uncompressed PUBLISH payload bytes per batch; never above the server's max
                                      frame bytes or max decompressed bytes. A single larger record is sent alone
                                      if it fits the server's limits. Default: 1048576 (1 MiB). */
    int compression;               /* 1: zstd-compress batches when it makes them smaller; 0: never. Default: 0:
                                      on a local socket zstd costs both ends more CPU than the bytes it saves
                                      (docs/performance.md). */
    int zstd_level;                /* zstd compression level, when compression is on. Default: 1. */
    int connect_timeout_ms;        /* bound on one connection attempt including the HELLO handshake. Default: 5000. */
    int io_timeout_ms;             /* how long sluice_publish() may block on backpressure; < 0 waits without
                                      limit. Default: 30000. */
    size_t max_unacked_bytes;      /* bytes of batches held (sent or not) before sluice_publish() blocks reading
                                      ACKs (backpressure); the server's announced max unacked bytes caps it.
                                      Default: 67108864 (64 MiB). */
    int reconnect_attempts;        /* connection attempts one blocking call may make after the connection broke;
                                      at least 1 is used. Default: 5. */
    int backoff_ms;                /* first pause after a failed connection attempt or a retriable server ERROR;
                                      doubles each time. Default: 100. */
    int backoff_max_ms;            /* longest such pause. Default: 2000. */
    int generate_event_ids;        /* 1: replace an all-zero event id by a random UUIDv4 (so resends keep it);
                                      0: send it as zero and let the gateway assign one. Default: 1. */
    void (*on_failure)(void *opaque, const sluice_failure *f);
                                   /* called once per record the server rejected, from inside whichever call read
                                      the ACK/ERROR (publish, flush, ping, stats). Must not call back into the
                                      same client. Default: NULL (failures are only counted). */
    void *opaque;                  /* passed to on_failure unchanged. Default: NULL. */
} sluice_options;

/* An opaque client: one connection, its batches and its error state. */
typedef struct sluice_client sluice_client;

/* Returns the library version as "MAJOR.MINOR.PATCH". */
SLUICE_API const char *sluice_version(void);

/* Fills *opts with the defaults documented on each field. */
SLUICE_API void sluice_options_init(sluice_options *opts);

/* Creates a client and connects it to the gateway at socket_path (one attempt,
 * bounded by connect_timeout_ms), doing the HELLO handshake and storing the
 * server's limits. opts may be NULL for defaults; it is copied.
 * Returns NULL only when out of memory. Otherwise check sluice_errcode(): on a
 * failed connection the client is still usable — later calls try to connect
 * again — and must be released with sluice_close(). */
SLUICE_API sluice_client *sluice_connect(const char *socket_path, const sluice_options *opts);

/* Publishes a record with a NUL-terminated key, an empty event type, a fresh
 * event id and the current time. See sluice_publish_record(). */
SLUICE_API int sluice_publish(sluice_client *c, const char *topic, const char *key, const void *value,
                              size_t value_len, const sluice_header *headers, size_t n_headers);

/* Validates the record locally (topic, key, headers and size against the
 * server's limits) and appends it to the open batch; a full batch is
 * compressed and written (without waiting for the socket), and ACKs already
 * received are read. It blocks only for backpressure (up to io_timeout_ms) or
 * for a reconnection attempt that is due while batches wait to be sent (up to
 * connect_timeout_ms). Returns SLUICE_OK when the client has taken the
 * record: it is then held until acknowledged, and a rejection is reported via
 * on_failure and by the next sluice_flush(). Returns SLUICE_ERR when the
 * record was NOT taken: invalid input (sluice_errcode() is the protocol code,
 * e.g. SLUICE_E_INVALID_TOPIC, or SLUICE_E_INVALID_ARGUMENT), or backpressure
 * could not be relieved within io_timeout_ms (SLUICE_E_TIMEOUT or the
 * connection error), or out of memory. */
SLUICE_API int sluice_publish_record(sluice_client *c, const sluice_record *r);

/* Sends the open batch and waits until every batch is acknowledged,
 * reconnecting and resending as needed. timeout_ms < 0 waits without limit
 * (reconnect_attempts still bounds reconnection). Returns SLUICE_OK when
 * everything was acknowledged and no record was rejected since the previous
 * flush. Returns SLUICE_ERR with SLUICE_E_TIMEOUT, a connection error
 * (SLUICE_E_IO, SLUICE_E_CLOSED, SLUICE_E_PROTOCOL, or the server's ERROR
 * code) — unacknowledged records stay held for the next call — or
 * SLUICE_E_RECORDS_FAILED when records were rejected (their details went to
 * on_failure; see sluice_failed_records()). Under SLUICE_ACK_NONE it returns
 * once every batch is written. */
SLUICE_API int sluice_flush(sluice_client *c, int timeout_ms);

/* Sends STATS and returns the gateway's JSON document as a NUL-terminated
 * string to release with sluice_free(), or NULL with the error set. */
SLUICE_API char *sluice_stats(sluice_client *c, int timeout_ms);

/* Sends a PING and waits for its PONG. Returns SLUICE_OK or SLUICE_ERR. */
SLUICE_API int sluice_ping(sluice_client *c, int timeout_ms);

/* Closes the connection and frees the client. Does NOT flush: records not yet
 * acknowledged are dropped; call sluice_flush() first. NULL is ignored. */
SLUICE_API void sluice_close(sluice_client *c);

/* Frees memory the library returned (sluice_stats()). NULL is ignored. */
SLUICE_API void sluice_free(void *p);

/* Error code of the last call on c (SLUICE_E_NONE after a successful call). */
SLUICE_API int sluice_errcode(const sluice_client *c);

/* Human-readable message for the last error on c ("" when none). */
SLUICE_API const char *sluice_errstr(const sluice_client *c);

/* errno of the failed system call when sluice_errcode() is SLUICE_E_IO, else 0. */
SLUICE_API int sluice_errno(const sluice_client *c);

/* Records rejected by the server since the client was created (cumulative). */
SLUICE_API uint64_t sluice_failed_records(const sluice_client *c);

/* Records the client currently holds: in the open batch or not yet acknowledged. */
SLUICE_API uint64_t sluice_unacked_records(const sluice_client *c);

/* 1 when the client has an established connection (handshake done), else 0. */
SLUICE_API int sluice_is_connected(const sluice_client *c);

/* Server name from the last HELLO_OK ("" before the first handshake). */
SLUICE_API const char *sluice_server_name(const sluice_client *c);

/* Name of an error code, e.g. "INVALID_TOPIC", "IO", "TIMEOUT"; "UNKNOWN" for others. */
SLUICE_API const char *sluice_error_name(int code);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_H */
