/* A tiny test harness: checks with messages, one result per test case, and a
 * closing "N passed, M failed" line. */
#ifndef SLUICE_TEST_HARNESS_H
#define SLUICE_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define H_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define H_PRINTF(f, a)
#endif

void h_fail(const char *file, int line, const char *expr, const char *fmt, ...) H_PRINTF(4, 5);
void h_run(const char *name, void (*fn)(void));
int h_summary(void);
int h_current_failed(void);

/* CHECK(cond, "printf message", args...): records a failure and goes on. */
#define CHECK(cond, ...)                                                                                             \
    do {                                                                                                             \
        if (!(cond)) h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                                 \
    } while (0)

/* REQUIRE: like CHECK but returns from the test function. */
#define REQUIRE(cond, ...)                                                                                           \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                                          \
            return;                                                                                                  \
        }                                                                                                            \
    } while (0)

/* Test-side utilities. */
int64_t t_now_ms(void);
/* Hex string (even length) to bytes; malloc'd; NULL on bad input. */
uint8_t *t_unhex(const char *hex, size_t hex_len, size_t *out_len);
char *t_hex(const uint8_t *p, size_t n); /* malloc'd; for messages */
/* A deterministic PRNG for splits and mutations. */
uint32_t t_rand(uint64_t *state);

/* Vectors from proto-spec/vectors/frames.tsv. */
typedef struct t_vector {
    char *name;
    char *direction; /* "c2s" or "s2c" */
    char *expect;    /* "ok", "records:...", "error:N", "incomplete" */
    uint8_t *frame;
    size_t frame_len;
    uint8_t *plain; /* NULL when "-" */
    size_t plain_len;
} t_vector;

int t_load_vectors(const char *path, t_vector **out, size_t *n);
void t_free_vectors(t_vector *v, size_t n);
const t_vector *t_find_vector(const t_vector *v, size_t n, const char *name);

/* Suites. */
void vector_tests(const char *vectors_path);
void reader_tests(const char *vectors_path);
void client_tests(void);
void fake_tests(void);

#endif
