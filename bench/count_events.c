/*
 * Reads a whole bench topic back (for the "recovery" scenario of
 * scripts/bench.sh) and checks what the publisher's events became: every
 * partition is assigned from its first offset (no consumer group) and read
 * until nothing new arrives for --idle-ms. Never trusts the broker's high
 * watermark (Tansu's is wrong); counts what it reads.
 *
 *   count_events --brokers HOST:PORT --topic T --events N [--min-seq S]
 *                [--keys K (10000)] [--idle-ms MS (3000)] [--timeout-s S (120)]
 *                [--missing-out FILE]
 *
 * For each record: the "event-id" header (distinct ids vs. duplicates), and
 * the key ("player-NNNNNN") and "seq" of the bench workload's value. A record
 * whose event id was not seen before but whose seq is below the highest seq
 * already read for its key arrived out of order (a duplicate may repeat older
 * seqs; that is at-least-once, not a reordering). Events with seq in
 * [S, N) are tracked one by one: how many distinct ones were read back, and
 * (--missing-out) the seqs not read back, one per line, for the script to
 * look up in the gateway's spool.
 * One line on stdout:
 *   records=R distinct=D duplicates=R-D reordered=X seqs_from_min=F of=N-S
 *   missing_first=SEQ|- seconds=T
 * Exit status 0 when it read until idle, 1 on an error or the timeout.
 */
#define _POSIX_C_SOURCE 200809L

#include <librdkafka/rdkafka.h>

#include "workload.h"

typedef struct {
    uint64_t *slots;
    size_t cap, len;
} hash_set;

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h ? h : 1;
}

/* Returns 1 when h was new, 0 when already present, -1 when out of memory. */
static int set_add(hash_set *s, uint64_t h) {
    if ((s->len + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1 << 20;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (slots == NULL) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i] == 0) continue;
            size_t j = s->slots[i] & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = h & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->len++;
    return 1;
}

/* The number after `"seq":` in the first bytes of a bench value, or -1. */
static int64_t value_seq(const char *v, size_t n) {
    static const char tag[] = "\"seq\":";
    size_t lim = n < 96 ? n : 96;
    for (size_t i = 0; i + sizeof tag - 1 < lim; i++) {
        if (memcmp(v + i, tag, sizeof tag - 1) != 0) continue;
        int64_t x = 0;
        size_t k = i + sizeof tag - 1;
        if (k >= n || v[k] < '0' || v[k] > '9') return -1;
        for (; k < n && v[k] >= '0' && v[k] <= '9'; k++) x = x * 10 + (v[k] - '0');
        return x;
    }
    return -1;
}

/* The NNNNNN of "player-NNNNNN", or -1. */
static int64_t key_player(const char *k, size_t n) {
    if (n <= 7 || memcmp(k, "player-", 7) != 0) return -1;
    int64_t x = 0;
    for (size_t i = 7; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') return -1;
        x = x * 10 + (k[i] - '0');
    }
    return x;
}

int main(int argc, char **argv) {
    const char *brokers = NULL, *topic = NULL, *missing_out = NULL;
    uint64_t events = 0, min_seq = 0, keys = 10000, idle_ms = 3000, timeout_s = 120;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (strcmp(o, "--brokers") == 0) brokers = v;
        else if (strcmp(o, "--topic") == 0) topic = v;
        else if (strcmp(o, "--events") == 0) bad = bench_parse_u64(v, &events);
        else if (strcmp(o, "--min-seq") == 0) bad = bench_parse_u64(v, &min_seq);
        else if (strcmp(o, "--keys") == 0) bad = bench_parse_u64(v, &keys);
        else if (strcmp(o, "--idle-ms") == 0) bad = bench_parse_u64(v, &idle_ms);
        else if (strcmp(o, "--timeout-s") == 0) bad = bench_parse_u64(v, &timeout_s);
        else if (strcmp(o, "--missing-out") == 0) missing_out = v;
        else bad = 1;
        if (bad) brokers = NULL, i = argc;
    }
    if (brokers == NULL || topic == NULL || events == 0 || argc % 2 == 0 || keys == 0 || keys > 1000000 ||
        min_seq > events) {
        fprintf(stderr,
                "usage: %s --brokers HOST:PORT --topic T --events N [--min-seq S] [--keys K] [--idle-ms MS]"
                " [--timeout-s S] [--missing-out FILE]\n",
                argv[0]);
        return 2;
    }

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof group, "sluice-bench-count-%ld", (long)time(NULL));
    const char *settings[][2] = {{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"},
                                 {"auto.offset.reset", "earliest"}, {"log_level", "3"}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "count_events: %s: %s\n", settings[i][0], err);
            return 1;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "count_events: rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "count_events: no metadata for %s: %s\n", topic,
                rd_kafka_err2str(e ? e : md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN));
        return 1;
    }
    int partitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if ((e = rd_kafka_assign(rk, list)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "count_events: assign: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    rd_kafka_topic_partition_list_destroy(list);

    hash_set ids = {0};
    int64_t *max_seq = malloc(keys * sizeof *max_seq);
    uint64_t span = events - min_seq;
    unsigned char *seen = calloc(span / 8 + 1, 1);
    if (max_seq == NULL || seen == NULL) return 1;
    for (uint64_t k = 0; k < keys; k++) max_seq[k] = -1;

    uint64_t records = 0, distinct = 0, reordered = 0, unparsed = 0, in_span = 0, no_id = 0;
    double start = bench_now(), last = start;
    int rc = 0;
    for (;;) {
        double now = bench_now();
        if (now - start > (double)timeout_s) {
            fprintf(stderr, "count_events: still reading after %llu s\n", (unsigned long long)timeout_s);
            rc = 1;
            break;
        }
        if ((now - last) * 1000 > (double)idle_ms) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "count_events: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        last = bench_now();
        records++;
        rd_kafka_headers_t *hdrs = NULL;
        const void *id = NULL;
        size_t id_len = 0;
        int fresh = 1;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(hdrs, "event-id", &id, &id_len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            fresh = set_add(&ids, fnv1a(id, id_len));
            if (fresh < 0) return 1;
        } else {
            no_id++;
        }
        distinct += fresh == 1;
        int64_t player = key_player(m->key, m->key_len), seq = value_seq(m->payload, m->len);
        if (player < 0 || (uint64_t)player >= keys || seq < 0) {
            unparsed++;
        } else if (fresh) {
            if (seq < max_seq[player]) {
                if (reordered++ < 5)
                    fprintf(stderr, "count_events: key player-%06lld: seq %lld after %lld (partition %d offset %lld)\n",
                            (long long)player, (long long)seq, (long long)max_seq[player], m->partition,
                            (long long)m->offset);
            } else {
                max_seq[player] = seq;
            }
            if ((uint64_t)seq >= min_seq && (uint64_t)seq < events) {
                uint64_t b = (uint64_t)seq - min_seq;
                if (!(seen[b / 8] & (1u << (b % 8)))) {
                    seen[b / 8] |= (unsigned char)(1u << (b % 8));
                    in_span++;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    long long missing_first = -1;
    FILE *mf = missing_out ? fopen(missing_out, "w") : NULL;
    if (missing_out && mf == NULL) {
        perror(missing_out);
        rc = 1;
    }
    for (uint64_t b = 0; b < span; b++)
        if (!(seen[b / 8] & (1u << (b % 8)))) {
            if (missing_first < 0) missing_first = (long long)(b + min_seq);
            if (mf) fprintf(mf, "%llu\n", (unsigned long long)(b + min_seq));
            else break;
        }
    if (mf && fclose(mf) != 0) rc = 1;
    if (unparsed || no_id)
        fprintf(stderr, "count_events: %llu records not of the bench workload, %llu without an event-id\n",
                (unsigned long long)unparsed, (unsigned long long)no_id);
    char first[32] = "-";
    if (missing_first >= 0) snprintf(first, sizeof first, "%lld", missing_first);
    printf("records=%llu distinct=%llu duplicates=%llu reordered=%llu seqs_from_min=%llu of=%llu missing_first=%s "
           "seconds=%.1f\n",
           (unsigned long long)records, (unsigned long long)distinct, (unsigned long long)(records - distinct),
           (unsigned long long)reordered, (unsigned long long)in_span, (unsigned long long)span, first,
           bench_now() - start);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(ids.slots);
    free(max_seq);
    free(seen);
    return rc;
}
