/* The client against a slow, silent or misbehaving fake server: timeouts, a refused
 * handshake, a server that appears later, malformed replies. */
#include "client_fixture.h"

/* ---- timeouts ------------------------------------------------------------------ */

static void test_flush_times_out_without_acks(void) {
    fixture f;
    REQUIRE(fx_start(&f, FS_NO_ACK, 0), "connect");
    CHECK(publish_n(f.c, "events", 0, 3) == 0, "publish");
    int64_t t0 = t_now_ms();
    CHECK(sluice_flush(f.c, 300) == SLUICE_ERR, "flush must fail");
    int64_t ms = t_now_ms() - t0;
    CHECK(sluice_errcode(f.c) == SLUICE_E_TIMEOUT, "code %d %s", sluice_errcode(f.c), sluice_errstr(f.c));
    CHECK(ms >= 250 && ms < 3000, "flush took %lld ms", (long long)ms);
    CHECK(sluice_unacked_records(f.c) == 3, "records still held");
    CHECK(strstr(sluice_errstr(f.c), "timed out") != NULL, "errstr: %s", sluice_errstr(f.c));
    t0 = t_now_ms();
    CHECK(sluice_flush(f.c, 0) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_TIMEOUT, "zero timeout");
    CHECK(t_now_ms() - t0 < 1000, "zero timeout returns at once");
    fx_close(&f); /* drops the held records; must not leak */
}

static void test_connect_times_out_without_hello_ok(void) {
    fs_config cfg = cfg_mode(FS_SILENT_HELLO, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.connect_timeout_ms = 300;
    int64_t t0 = t_now_ms();
    sluice_client *c = sluice_connect(fs_path(s), &o);
    int64_t ms = t_now_ms() - t0;
    REQUIRE(c != NULL, "NULL only on out of memory");
    CHECK(sluice_errcode(c) == SLUICE_E_TIMEOUT, "code %d %s", sluice_errcode(c), sluice_errstr(c));
    CHECK(ms >= 250 && ms < 3000, "connect took %lld ms", (long long)ms);
    CHECK(!sluice_is_connected(c), "not connected");
    /* Later calls keep the bound too. */
    t0 = t_now_ms();
    CHECK(sluice_ping(c, 400) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_TIMEOUT, "ping: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    CHECK(t_now_ms() - t0 < 3000, "ping bounded");
    sluice_close(c);
    fs_stop(s);
}

static void test_handshake_refused(void) {
    fixture f;
    fx_init(&f, FS_HELLO_ERROR, 0);
    fx_connect(&f);
    REQUIRE(f.c != NULL, "connect");
    CHECK(sluice_errcode(f.c) == SLUICE_E_UNSUPPORTED_VERSION, "code %d %s", sluice_errcode(f.c), sluice_errstr(f.c));
    CHECK(strstr(sluice_errstr(f.c), "7..9") != NULL, "server's message kept: %s", sluice_errstr(f.c));
    fx_close(&f);
}

static void test_connect_later(void) {
    char dir[] = "/tmp/sluice-c-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    char path[128];
    snprintf(path, sizeof(path), "%s/late.sock", dir);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(path, &o);
    REQUIRE(c != NULL, "connect");
    CHECK(sluice_errcode(c) == SLUICE_E_IO && sluice_errno(c) == ENOENT, "code %d errno %d: %s", sluice_errcode(c),
          sluice_errno(c), sluice_errstr(c));
    CHECK(publish_n(c, "events", 0, 5) == 0, "records are taken while disconnected: %s", sluice_errstr(c));
    CHECK(sluice_flush(c, 200) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_IO, "no server yet: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.path = path;
    fake_server *s = fs_start(&cfg);
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush after the server came: %s", sluice_errstr(c));
    CHECK(fs_records(s, NULL, 0) == 5, "records %zu", fs_records(s, NULL, 0));
    sluice_close(c);
    fs_stop(s);
    rmdir(dir);
}

/* ---- misbehaving servers ------------------------------------------------------- */

static const struct {
    fs_mode mode;
    const char *name;
    int code;
} BAD[] = {
    {FS_GARBAGE, "garbage", SLUICE_E_PROTOCOL},
    {FS_TRUNCATED_ACK, "truncated ACK", SLUICE_E_PROTOCOL},
    {FS_CLOSE_MID_FRAME, "close mid-frame", SLUICE_E_CLOSED},
    {FS_ACK_BAD_INDEX, "ACK index out of range", SLUICE_E_PROTOCOL},
    {FS_ACK_UNKNOWN_ID, "ACK for an unknown request id", SLUICE_E_PROTOCOL},
    {FS_HUGE_FRAME, "4 GiB frame header", SLUICE_E_PROTOCOL},
    {FS_DROP_PUBLISH, "close without an answer", SLUICE_E_CLOSED},
};

static void test_misbehaving_server_gives_error(void) {
    for (size_t k = 0; k < sizeof(BAD) / sizeof(BAD[0]); k++) {
        fixture f;
        fx_init(&f, BAD[k].mode, 0);
        f.o.reconnect_attempts = 2;
        REQUIRE(fx_connect(&f), "connect");
        CHECK(publish_n(f.c, "events", 0, 3) == 0, "publish");
        int64_t t0 = t_now_ms();
        int rc = sluice_flush(f.c, 5000);
        int64_t ms = t_now_ms() - t0;
        CHECK(rc == SLUICE_ERR && sluice_errcode(f.c) == BAD[k].code, "%s: rc %d code %d (%s), want %d", BAD[k].name,
              rc, sluice_errcode(f.c), sluice_errstr(f.c), BAD[k].code);
        CHECK(ms < 4000, "%s: took %lld ms", BAD[k].name, (long long)ms);
        CHECK(sluice_unacked_records(f.c) == 3, "%s: records still held", BAD[k].name);
        CHECK(fs_connections(f.s) == 3, "%s: 1 + 2 reconnect attempts, got %d", BAD[k].name, fs_connections(f.s));
        CHECK(f.fl.n == 0, "%s: nothing reported as failed", BAD[k].name);
        fx_close(&f);
    }
}

static void test_recovers_after_one_bad_reply(void) {
    for (size_t k = 0; k < sizeof(BAD) / sizeof(BAD[0]); k++) {
        fixture f;
        fx_init(&f, BAD[k].mode, 1);
        f.o.max_batch_records = 4;
        REQUIRE(fx_connect(&f), "connect");
        CHECK(fx_publish_flush(&f, 10, 5000) == SLUICE_OK, "%s: flush %s", BAD[k].name, sluice_errstr(f.c));
        size_t n = fs_records(f.s, LOG, 20000);
        CHECK(distinct_ids(LOG, n) == 10, "%s: %d distinct records delivered", BAD[k].name, distinct_ids(LOG, n));
        CHECK(sluice_failed_records(f.c) == 0 && sluice_unacked_records(f.c) == 0, "%s: clean", BAD[k].name);
        CHECK(fs_connections(f.s) == 2, "%s: one reconnect, got %d", BAD[k].name, fs_connections(f.s));
        fx_close(&f);
    }
}

static void test_ping_and_stats_against_garbage(void) {
    fixture f;
    REQUIRE(fx_start(&f, FS_GARBAGE, 0), "connect");
    CHECK(sluice_ping(f.c, 2000) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_PROTOCOL, "ping: %d %s",
          sluice_errcode(f.c), sluice_errstr(f.c));
    char *st = sluice_stats(f.c, 2000);
    CHECK(st == NULL, "stats from a garbage server");
    sluice_free(st);
    fx_close(&f);
}

void client_fault_tests(void) {
    h_run("client: flush times out when nothing is acked", test_flush_times_out_without_acks);
    h_run("client: connect times out without HELLO_OK", test_connect_times_out_without_hello_ok);
    h_run("client: handshake refused by the server", test_handshake_refused);
    h_run("client: server appears after connect failed", test_connect_later);
    h_run("client: misbehaving server -> error, no crash", test_misbehaving_server_gives_error);
    h_run("client: one bad reply -> reconnect and deliver", test_recovers_after_one_bad_reply);
    h_run("client: ping and stats against garbage", test_ping_and_stats_against_garbage);
}
