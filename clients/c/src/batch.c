/* The sealed batches, in publish order (QUEUED, WRITING, INFLIGHT), and sealing the
 * batch being filled into one of them. */
#include <stdlib.h>

#include "client.h"

void sluice_batch_set_state(sluice_client *c, batch *b, int st) {
    if (b->state == B_QUEUED) c->n_queued--;
    if (st == B_QUEUED) c->n_queued++;
    b->state = st;
}

void sluice_batch_unlink(sluice_client *c, batch *b) {
    if (b->prev) b->prev->next = b->next;
    else c->head = b->next;
    if (b->next) b->next->prev = b->prev;
    else c->tail = b->prev;
    if (b->state == B_QUEUED) c->n_queued--;
    if (c->wbatch == b) {
        c->wbatch = NULL;
        c->out_kind = OUT_NONE;
        c->woff = 0;
    }
    c->held_bytes -= b->frame_len;
    c->held_records -= b->n_records;
    free(b->frame);
    free(b);
}

batch *sluice_batch_find(sluice_client *c, uint32_t id, int include_writing) {
    if (id == 0) return NULL;
    for (batch *b = c->head; b; b = b->next)
        if (b->req_id == id && (b->state == B_INFLIGHT || (include_writing && b->state == B_WRITING))) return b;
    return NULL;
}

/* Seals the open batch: fills in count and header, compresses when that makes
 * it smaller, and queues it. 0, or -1 (out of memory; the open batch is kept). */
int sluice_seal_open(sluice_client *c) {
    if (c->open_count == 0) return 0;
    batch *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        sluice_set_err(c, SLUICE_E_NOMEM, 0, "out of memory sealing a batch");
        return -1;
    }
    sluice_batch_finish(&c->open, c->open_count);
    b->plain_len = c->open.len - SLUICE_HDR_LEN;
    b->n_records = c->open_count;
    uint8_t *z = NULL;
    size_t zlen = 0;
    int rc = 0;
    if (c->opts.compression) /* a failure here only means sending it plain */
        rc = sluice_compress_frame(c->cctx, c->opts.zstd_level, c->open.data, c->open.len, &z, &zlen);
    if (rc == 1) {
        b->frame = z;
        b->frame_len = zlen;
        c->open.len = 0; /* keep the buffer for the next batch */
    } else {
        uint8_t *shrunk = realloc(c->open.data, c->open.len);
        b->frame = shrunk ? shrunk : c->open.data;
        b->frame_len = c->open.len;
        c->open.data = NULL;
        c->open.len = c->open.cap = 0;
    }
    b->state = B_QUEUED;
    c->n_queued++;
    b->prev = c->tail;
    if (c->tail) c->tail->next = b;
    else c->head = b;
    c->tail = b;
    c->held_bytes += b->frame_len;
    c->held_records += b->n_records;
    c->open_count = 0;
    return 0;
}
