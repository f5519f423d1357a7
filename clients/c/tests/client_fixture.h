/* What the client tests share: a recorder for on_failure, options for the tests, and
 * helpers to publish and inspect what the fake server received. */
#ifndef SLUICE_TEST_CLIENT_FIXTURE_H
#define SLUICE_TEST_CLIENT_FIXTURE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* mkdtemp */
#endif
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"
#include "harness.h"
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
/* One client test's fake server and the client connected to it. */
typedef struct {
    fs_config cfg;    /* the fake server's configuration */
    sluice_options o; /* the client's options: opts_for(&fl) */
    failures fl;
    fake_server *s;
    sluice_client *c;
} fixture;

/* Sets f up: cfg = cfg_mode(mode, bad_count), fl zeroed, o = opts_for(&f->fl). A test may
 * change f->cfg and f->o before fx_connect(). */
void fx_init(fixture *f, fs_mode mode, int bad_count);
/* Starts the fake server with f->cfg and connects f->c to it with f->o. 1 when the client
 * is connected with no error. */
int fx_connect(fixture *f);
/* fx_init() then fx_connect(), for a test that keeps the default options. */
int fx_start(fixture *f, fs_mode mode, int bad_count);
/* Publishes n records (publish_n on "events", from 0; a refused one is a test failure),
 * then flushes within timeout_ms: the flush's result. */
int fx_publish_flush(fixture *f, int n, int timeout_ms);
/* Closes the client and stops the fake server. */
void fx_close(fixture *f);
/* Room for what the fake server received, for fs_records(). */
extern fs_record LOG[20000];

/* The client test suites beside client_tests() (test_client.c). */
void client_resend_tests(void);
void client_fault_tests(void);
void client_api_tests(void);

#endif
