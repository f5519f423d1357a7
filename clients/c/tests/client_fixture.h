/* What the client tests share: a recorder for on_failure, options for the tests, and
 * helpers to publish and inspect what the fake server received. */
#ifndef SLUICE_TEST_CLIENT_FIXTURE_H
#define SLUICE_TEST_CLIENT_FIXTURE_H

#include <stdint.h>

#include "fake_server.h"
#include "sluice.h"

#define MAXF 64

/* What on_failure saw. */
typedef struct {
    int n;
    int code[MAXF];
    uint32_t index[MAXF];
    int retriable[MAXF];
    char topic[MAXF][32];
    char key[MAXF][32];
    char value[MAXF][32];
    char message[MAXF][64];
    char error_name[MAXF][32];
    int have_topic[MAXF];
    uint8_t event_id[MAXF][16];
    /* reentrancy probe */
    sluice_client *client;
    int reentry_rc, reentry_code;
} failures;

/* Records a failure into the `failures` passed as opaque (and probes re-entry). */
void on_failure(void *opaque, const sluice_failure *f);
/* Test options: short timeouts and backoff, on_failure recording into fl. */
sluice_options opts_for(failures *fl);
/* A fake-server configuration with this mode and bad_count. */
fs_config cfg_mode(fs_mode mode, int bad_count);
/* Publishes n records with keys player-(i%7) and values v-i. 0 or -1. */
int publish_n(sluice_client *c, const char *topic, int from, int n);
/* How many distinct event ids the n records carry. */
int distinct_ids(const fs_record *r, size_t n);
/* Room for what the fake server received, for fs_records(). */
extern fs_record LOG[20000];

/* The client test suites beside client_tests() (test_client.c). */
void client_resend_tests(void);
void client_fault_tests(void);
void client_api_tests(void);

#endif
