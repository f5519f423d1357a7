#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed, failed, current_failed;
static const char *current_name = "?";

void h_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    va_list ap;
    /* stdout only, line-buffered by main: failures stay next to their test. */
    printf("  FAIL %s (%s:%d): %s: ", current_name, file, line, expr);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    current_failed++;
}

int h_current_failed(void) { return current_failed; }

void h_run(const char *name, void (*fn)(void)) {
    current_name = name;
    current_failed = 0;
    int64_t t0 = t_now_ms();
    fn();
    int64_t ms = t_now_ms() - t0;
    if (current_failed == 0) {
        passed++;
        printf("ok   %s (%lld ms)\n", name, (long long)ms);
    } else {
        failed++;
        printf("FAIL %s (%d checks failed)\n", name, current_failed);
    }
    fflush(stdout);
}

int h_summary(void) {
    fflush(stderr);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 && passed > 0 ? 0 : 1;
}

int64_t t_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

uint8_t *t_unhex(const char *hex, size_t hex_len, size_t *out_len) {
    if (hex_len % 2) return NULL;
    uint8_t *out = malloc(hex_len / 2 + 1);
    if (out == NULL) return NULL;
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = hex_len / 2;
    return out;
}

char *t_hex(const uint8_t *p, size_t n) {
    static const char d[] = "0123456789abcdef";
    char *s = malloc(n * 2 + 1);
    if (s == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = d[p[i] >> 4];
        s[2 * i + 1] = d[p[i] & 15];
    }
    s[n * 2] = '\0';
    return s;
}

uint32_t t_rand(uint64_t *state) {
    /* xorshift64* */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 2685821657736338717ULL) >> 32);
}

static char *dup_field(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int t_load_vectors(const char *path, t_vector **out, size_t *n) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    t_vector *v = NULL;
    size_t count = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        char *fields[5];
        size_t flen[5];
        int nf = 0;
        char *p = line;
        while (nf < 5) {
            char *tab = strchr(p, '\t');
            fields[nf] = p;
            flen[nf] = tab ? (size_t)(tab - p) : strlen(p);
            nf++;
            if (!tab) break;
            p = tab + 1;
        }
        if (nf != 5) {
            rc = -1;
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            t_vector *nv = realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                rc = -1;
                break;
            }
            v = nv;
        }
        t_vector *t = &v[count];
        memset(t, 0, sizeof(*t));
        t->name = dup_field(fields[0], flen[0]);
        t->direction = dup_field(fields[1], flen[1]);
        t->expect = dup_field(fields[2], flen[2]);
        t->frame = t_unhex(fields[3], flen[3], &t->frame_len);
        if (!(flen[4] == 1 && fields[4][0] == '-')) t->plain = t_unhex(fields[4], flen[4], &t->plain_len);
        count++;
        if (!t->name || !t->direction || !t->expect || !t->frame ||
            (!t->plain && !(flen[4] == 1 && fields[4][0] == '-'))) {
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc < 0) {
        t_free_vectors(v, count);
        return -1;
    }
    *out = v;
    *n = count;
    return 0;
}

void t_free_vectors(t_vector *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].direction);
        free(v[i].expect);
        free(v[i].frame);
        free(v[i].plain);
    }
    free(v);
}

const t_vector *t_find_vector(const t_vector *v, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) return &v[i];
    return NULL;
}
