/* The client's API misuse checks (invalid input refused locally, no re-entry from
 * on_failure), and the example program run against the fake server. */
#include "client_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

/* ---- API misuse ---------------------------------------------------------------- */

static void test_invalid_input_refused_locally(void) {
    fixture f;
    REQUIRE(fx_start(&f, FS_NORMAL, 0), "connect");
    char t249[250], t250[251];
    memset(t249, 'a', 249);
    t249[249] = '\0';
    memset(t250, 'a', 250);
    t250[250] = '\0';
    struct {
        const char *topic;
        int code;
    } topics[] = {{"", SLUICE_E_INVALID_TOPIC},         {".", SLUICE_E_INVALID_TOPIC},
                  {"..", SLUICE_E_INVALID_TOPIC},       {"bad topic", SLUICE_E_INVALID_TOPIC},
                  {"caf\xc3\xa9", SLUICE_E_INVALID_TOPIC}, {t250, SLUICE_E_INVALID_TOPIC},
                  {t249, 0},                            {"...", 0},
                  {"Ok.topic_-9", 0}};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        int rc = sluice_publish(f.c, topics[i].topic, "k", "v", 1, NULL, 0);
        int got = rc == SLUICE_OK ? 0 : sluice_errcode(f.c);
        CHECK(got == topics[i].code, "topic %.20s: got %d want %d", topics[i].topic, got, topics[i].code);
    }
    uint64_t held = sluice_unacked_records(f.c);
    CHECK(held == 3, "only valid records taken: %llu", (unsigned long long)held);
    CHECK(sluice_publish(f.c, "t", "", "v", 1, NULL, 0) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_INVALID_KEY,
          "empty key");
    CHECK(sluice_publish(f.c, "t", NULL, "v", 1, NULL, 0) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_INVALID_KEY,
          "NULL key");
    CHECK(sluice_publish(f.c, NULL, "k", "v", 1, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT,
          "NULL topic");
    CHECK(sluice_publish(f.c, "t", "k", NULL, 5, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT,
          "NULL value with a length");
    sluice_header empty = {"", "x", 1};
    CHECK(sluice_publish(f.c, "t", "k", "v", 1, &empty, 1) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_INVALID_HEADERS,
          "empty header name");
    sluice_header many[65];
    for (int i = 0; i < 65; i++) many[i] = (sluice_header){"h", NULL, 0};
    CHECK(sluice_publish(f.c, "t", "k", "v", 1, many, 65) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_INVALID_HEADERS,
          "65 headers");
    CHECK(sluice_publish(f.c, "t", "k", "v", 1, many, 64) == SLUICE_OK, "64 headers: %s", sluice_errstr(f.c));
    CHECK(sluice_publish_record(f.c, NULL) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT, "NULL");
    CHECK(sluice_unacked_records(f.c) == held + 1, "refused records not taken");
    CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    CHECK(fs_records(f.s, NULL, 0) == 4, "server got the 4 valid records");
    fx_close(&f);

    /* Bad options: the client exists but every call fails. */
    f.o.ack_level = 7;
    f.c = sluice_connect("/tmp/none.sock", &f.o);
    REQUIRE(f.c != NULL, "connect");
    CHECK(sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT, "bad ack level: %d", sluice_errcode(f.c));
    CHECK(sluice_publish(f.c, "t", "k", "v", 1, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT,
          "publish on a misconfigured client");
    sluice_close(f.c);
    sluice_options_init(&f.o);
    char longpath[200];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[199] = '\0';
    f.c = sluice_connect(longpath, &f.o);
    CHECK(f.c && sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT, "path too long");
    sluice_close(f.c);
    f.c = sluice_connect(NULL, NULL);
    CHECK(f.c && sluice_errcode(f.c) == SLUICE_E_INVALID_ARGUMENT, "NULL path");
    sluice_close(f.c);
    sluice_close(NULL);
    CHECK(sluice_flush(NULL, 0) == SLUICE_ERR && sluice_errcode(NULL) == SLUICE_E_INVALID_ARGUMENT, "NULL client");
}

static void test_callback_cannot_reenter(void) {
    fixture f;
    fx_init(&f, FS_NORMAL, 0);
    f.cfg.reject_key = "reject-me";
    REQUIRE(fx_connect(&f), "connect");
    f.fl.client = f.c;
    CHECK(sluice_publish(f.c, "t", "reject-me", "v", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(f.c, 5000) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_RECORDS_FAILED, "flush %s",
          sluice_errstr(f.c));
    CHECK(f.fl.n == 1 && f.fl.reentry_rc == SLUICE_ERR && f.fl.reentry_code == SLUICE_E_INVALID_ARGUMENT,
          "re-entry refused: n %d rc %d code %d", f.fl.n, f.fl.reentry_rc, f.fl.reentry_code);
    CHECK(sluice_ping(f.c, 1000) == SLUICE_OK, "client fine afterwards: %s", sluice_errstr(f.c));
    fx_close(&f);
}

/* ---- the example program --------------------------------------------------------- */

static int run_example(const char *exe, char *const argv[], int timeout_ms) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int64_t deadline = t_now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (t_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        poll(NULL, 0, 10); /* waiting for a child process: there is no fd to poll */
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -3;
}

static void test_example_program(void) {
    const char *exe = getenv("SLUICE_EXAMPLE");
    if (exe == NULL || access(exe, X_OK) != 0) {
        printf("  (SLUICE_EXAMPLE not set: example not run)\n");
        return;
    }
    char *usage[] = {(char *)exe, NULL};
    CHECK(run_example(exe, usage, 5000) == 2, "usage error exits 2");
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    fake_server *s = fs_start(&cfg);
    char *argv[] = {(char *)exe, (char *)fs_path(s), "example.events", "25", NULL};
    int rc = run_example(exe, argv, 10000);
    CHECK(rc == 0, "example exited %d", rc);
    size_t n = fs_records(s, LOG, 20000);
    CHECK(n == 26, "example published %zu records", n);
    CHECK(n == 26 && LOG[25].event_id[0] == 0x6b && LOG[25].n_headers == 0, "the explicit record came last");
    CHECK(fs_violations(s) == 0, "violations");
    fs_stop(s);
}

void client_api_tests(void) {
    h_run("client: invalid input refused locally", test_invalid_input_refused_locally);
    h_run("client: on_failure cannot re-enter the client", test_callback_cannot_reenter);
    h_run("example: publish-example against the fake server", test_example_program);
}
