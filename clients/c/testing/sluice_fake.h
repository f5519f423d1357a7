/*
 * sluice_fake — a fake Sluice gateway for unit tests of code that uses libsluice.
 *
 * It listens on a Unix socket in a fresh temporary directory, in a thread of its own,
 * and speaks wire protocol v1 to real libsluice clients: it answers the handshake with
 * the protocol's default limits, records every record it receives, and acknowledges each
 * batch, failing the records you chose with the protocol code you gave (in the ACK, as a
 * gateway does). Point the code under test at sluice_fake_socket_path(), run it, flush,
 * then ask the fake what was published. Nothing reaches Kafka.
 *
 * Link: build/libsluice-fake.a (installed as libsluice-fake.a; pkg-config sluice-fake)
 * with libsluice, libzstd and -pthread. Every call is thread-safe.
 *
 *     sluice_fake *gw = sluice_fake_start();
 *     sluice_client *c = sluice_connect(sluice_fake_socket_path(gw), NULL);
 *     publish_player_registered(c, 42);              // the code under test
 *     sluice_flush(c, 5000);                         // the fake has recorded the batch once this returns
 *     assert(sluice_fake_count_published(gw, "player.registered", "42") == 1);
 *     sluice_close(c);
 *     sluice_fake_stop(gw);
 */
#ifndef SLUICE_FAKE_H
#define SLUICE_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A running fake gateway. */
typedef struct sluice_fake sluice_fake;

/* One record the fake received. Pointers stay valid until sluice_fake_reset() or
 * sluice_fake_stop(); strings and byte fields are NUL-terminated for convenience. */
typedef struct sluice_fake_record {
    const char *topic;
    const char *key;              /* key bytes */
    size_t key_len;
    const char *event_type;       /* "" when none */
    uint8_t event_id[16];         /* as sent (libsluice fills in a random UUIDv4 unless given one) */
    int64_t timestamp_ms;         /* as sent */
    const sluice_header *headers; /* n_headers headers: NUL-terminated names, values as sent */
    size_t n_headers;
    const void *value;
    size_t value_len;
    int ack_level;                /* SLUICE_ACK_* of its batch */
    int failure_code;             /* 0, or the code the fake failed it with (sluice_fake_fail) */
} sluice_fake_record;

/* Starts a fake gateway on a socket in a fresh directory under $TMPDIR (or /tmp).
 * NULL on failure, with errno set. */
sluice_fake *sluice_fake_start(void);

/* The socket path to give sluice_connect(). */
const char *sluice_fake_socket_path(const sluice_fake *f);

/* Fails the records received from now on whose topic and key match (NULL matches any) with
 * protocol code `code` (e.g. SLUICE_E_REJECTED_BY_BROKER), reported per record in the ACK:
 * the client passes it to on_failure and the next sluice_flush() returns
 * SLUICE_E_RECORDS_FAILED. `times` > 0 limits how many records the rule fails; 0 means every
 * match. Rules are tried in the order they were added; the first that matches decides. */
void sluice_fake_fail(sluice_fake *f, const char *topic, const char *key, int code, int times);

/* Records received so far (failed ones included), in the order they arrived. */
size_t sluice_fake_count(sluice_fake *f);

/* Copies the i-th record received into *out: 0, or -1 when there is no such record. */
int sluice_fake_record_at(sluice_fake *f, size_t i, sluice_fake_record *out);

/* Records received with this topic and key (NULL matches any) — "publish(topic, key, any
 * event) was called" is sluice_fake_count_published(f, topic, key) > 0. */
size_t sluice_fake_count_published(sluice_fake *f, const char *topic, const char *key);

/* Forgets the records received and the failure rules. */
void sluice_fake_reset(sluice_fake *f);

/* Stops the fake: closes its connections (clients see the gateway go away), removes the
 * socket and directory, frees everything. NULL is ignored. */
void sluice_fake_stop(sluice_fake *f);

#ifdef __cplusplus
}
#endif

#endif
