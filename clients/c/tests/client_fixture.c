/* What the client tests share (client_fixture.h). */
#include <stdio.h>
#include <string.h>

#include "client_fixture.h"

void on_failure(void *opaque, const sluice_failure *f) {
    failures *fl = opaque;
    if (fl->client) {
        fl->reentry_rc = sluice_ping(fl->client, 100);
        fl->reentry_code = sluice_errcode(fl->client);
    }
    if (fl->n >= MAXF) return;
    int i = fl->n++;
    fl->code[i] = f->code;
    fl->index[i] = f->index;
    fl->retriable[i] = f->retriable;
    fl->have_topic[i] = f->topic != NULL;
    snprintf(fl->topic[i], sizeof(fl->topic[i]), "%s", f->topic ? f->topic : "");
    snprintf(fl->key[i], sizeof(fl->key[i]), "%.*s", (int)(f->key ? f->key_len : 0), f->key ? f->key : "");
    snprintf(fl->value[i], sizeof(fl->value[i]), "%.*s", (int)(f->value ? f->value_len : 0),
             f->value ? (const char *)f->value : "");
    snprintf(fl->message[i], sizeof(fl->message[i]), "%s", f->message);
    snprintf(fl->error_name[i], sizeof(fl->error_name[i]), "%s", f->error_name);
    memcpy(fl->event_id[i], f->event_id, 16);
}

sluice_options opts_for(failures *fl) {
    sluice_options o;
    sluice_options_init(&o);
    o.client_name = "c-tests";
    o.connect_timeout_ms = 2000;
    o.backoff_ms = 5;
    o.backoff_max_ms = 40;
    o.on_failure = on_failure;
    o.opaque = fl;
    return o;
}

fs_config cfg_mode(fs_mode mode, int bad_count) {
    fs_config c;
    memset(&c, 0, sizeof(c));
    c.mode = mode;
    c.bad_count = bad_count;
    return c;
}

/* Publishes n records with keys player-(i%7) and values v-i. */
int publish_n(sluice_client *c, const char *topic, int from, int n) {
    for (int i = from; i < from + n; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "player-%d", i % 7);
        snprintf(value, sizeof(value), "v-%d", i);
        sluice_header h = {"seq", value, strlen(value)};
        if (sluice_publish(c, topic, key, value, strlen(value), &h, 1) != SLUICE_OK) return -1;
    }
    return 0;
}

int distinct_ids(const fs_record *r, size_t n) {
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = memcmp(r[i].event_id, r[j].event_id, 16) == 0;
        distinct += !seen;
    }
    return distinct;
}

void fx_init(fixture *f, fs_mode mode, int bad_count) {
    memset(f, 0, sizeof(*f));
    f->cfg = cfg_mode(mode, bad_count);
    f->o = opts_for(&f->fl);
}

int fx_connect(fixture *f) {
    f->s = fs_start(&f->cfg);
    f->c = sluice_connect(fs_path(f->s), &f->o);
    return f->c != NULL && sluice_errcode(f->c) == 0;
}

int fx_start(fixture *f, fs_mode mode, int bad_count) {
    fx_init(f, mode, bad_count);
    return fx_connect(f);
}

int fx_publish_flush(fixture *f, int n, int timeout_ms) {
    CHECK(publish_n(f->c, "events", 0, n) == 0, "publish %d records: %s", n, sluice_errstr(f->c));
    return sluice_flush(f->c, timeout_ms);
}

void fx_close(fixture *f) {
    sluice_close(f->c);
    fs_stop(f->s);
}

fs_record LOG[20000];
